/* thaw get: one sandbox as indented JSON. */
#include "cli.h"

static int get_run(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	int rc = cli_parse(&cmd_get, (const struct cli_opt[]){ { 0 } }, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_get, &a, 1, 1)) != 0)
		return cli_parse_exit(&cmd_get, rc);
	thaw_client *c = cli_client(cli);
	thaw_sandbox *sb = NULL;
	thaw_error *e = NULL;
	if (!c)
		return EXIT_FAIL;
	if (thaw_sandbox_get(c, a.pos[0], &sb, &e) < 0)
		return cli_fail(e);
	cli_print_json(sb->json);
	thaw_sandbox_free(sb);
	return EXIT_OK;
}

const struct cli_command cmd_get = {
	.name = "get",
	.args = "ID",
	.summary = "Print one sandbox as JSON.",
	.run = get_run,
};
