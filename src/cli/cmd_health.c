/* thaw health: is thawd answering? Exit 0 when it is. */
#include <stdio.h>

#include "cli.h"

static int health_run(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	int rc = cli_parse(&cmd_health, (const struct cli_opt[]){ { 0 } }, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_health, &a, 0, 0)) != 0)
		return cli_parse_exit(&cmd_health, rc);
	thaw_client *c = cli_client(cli);
	thaw_error *e = NULL;
	if (!c)
		return EXIT_FAIL;
	if (thaw_health(c, &e) < 0)
		return cli_fail(e);
	printf("ok\n");
	return EXIT_OK;
}

const struct cli_command cmd_health = {
	.name = "health",
	.args = "",
	.summary = "Check that thawd answers (exit 0 when healthy).",
	.run = health_run,
};
