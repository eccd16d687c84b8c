/* thaw keepalive: restart a sandbox's timeout. */
#include <limits.h>
#include <stdio.h>

#include "cli.h"

static int keepalive_run(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	int rc =
		cli_parse(&cmd_keepalive, (const struct cli_opt[]){ { 0 } }, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_keepalive, &a, 2, 2)) != 0)
		return cli_parse_exit(&cmd_keepalive, rc);
	int secs = 0;
	if (cli_parse_int(&cmd_keepalive, "SECONDS", a.pos[1], 0, INT_MAX, &secs) != 0)
		return EXIT_USAGE;
	thaw_client *c = cli_client(cli);
	if (!c)
		return EXIT_FAIL;
	thaw_sandbox *sb = NULL;
	thaw_error *e = NULL;
	if (thaw_sandbox_keepalive(c, a.pos[0], secs, &sb, &e) < 0)
		return cli_fail(e);
	printf("%s %s\n", sb->id, sb->timeout_at ? sb->timeout_at : "never");
	thaw_sandbox_free(sb);
	return EXIT_OK;
}

const struct cli_command cmd_keepalive = {
	.name = "keepalive",
	.args = "ID SECONDS",
	.summary = "Restart a sandbox's timeout at SECONDS from now (0: never).",
	.run = keepalive_run,
};
