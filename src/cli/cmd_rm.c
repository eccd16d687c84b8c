/* thaw rm: delete sandboxes. Every id is tried even after a failure;
 * the exit status says whether all went. */
#include <stdio.h>

#include "cli.h"

static int rm_run(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	int rc = cli_parse(&cmd_rm, (const struct cli_opt[]){ { 0 } }, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_rm, &a, 1, (size_t)argc)) != 0)
		return cli_parse_exit(&cmd_rm, rc);
	thaw_client *c = cli_client(cli);
	if (!c)
		return EXIT_FAIL;
	for (size_t i = 0; i < a.npos; i++) {
		thaw_error *e = NULL;
		if (thaw_sandbox_delete(c, a.pos[i], &e) < 0) {
			rc = cli_fail(e);
			continue;
		}
		printf("%s\n", a.pos[i]);
		fflush(stdout);
	}
	return rc;
}

const struct cli_command cmd_rm = {
	.name = "rm",
	.args = "ID...",
	.summary = "Delete sandboxes, printing each id deleted.",
	.run = rm_run,
};
