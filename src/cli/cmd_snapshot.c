/* thaw snapshot: a new template from a running sandbox. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static int snapshot_run(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	int rc = cli_parse(&cmd_snapshot, (const struct cli_opt[]){ { 0 } }, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_snapshot, &a, 2, 2)) != 0)
		return cli_parse_exit(&cmd_snapshot, rc);
	thaw_client *c = cli_client(cli);
	if (!c)
		return EXIT_FAIL;
	char *build = NULL;
	thaw_error *e = NULL;
	if (thaw_sandbox_snapshot(c, a.pos[0], a.pos[1], &build, &e) < 0)
		return cli_fail(e);
	printf("%s %s\n", a.pos[1], build);
	free(build);
	return EXIT_OK;
}

const struct cli_command cmd_snapshot = {
	.name = "snapshot",
	.args = "ID TEMPLATE",
	.summary = "Make template TEMPLATE from a running sandbox; print its name and build.",
	.help = "The sandbox stops for a moment while its memory and disk are captured, then\n"
		"goes on. Sandboxes created from TEMPLATE start as it was then, processes\n"
		"included. TEMPLATE is 1-63 characters of [a-z0-9-] and must be new.\n",
	.run = snapshot_run,
};
