/* thaw fork: copies of a running sandbox; prints each child's id. */
#include <stdio.h>

#include "cli.h"

static int fork_run(struct cli *cli, int argc, char **argv)
{
	const char *count_text = NULL;
	const struct cli_opt opts[] = { { "count", 'n', OPT_VALUE, &count_text }, { 0 } };
	struct cli_args a;
	int rc = cli_parse(&cmd_fork, opts, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_fork, &a, 1, 1)) != 0)
		return cli_parse_exit(&cmd_fork, rc);
	int count = 1;
	if (count_text &&
	    cli_parse_int(&cmd_fork, "--count", count_text, 1, THAW_FORK_MAX, &count) != 0)
		return EXIT_USAGE;
	thaw_client *c = cli_client(cli);
	if (!c)
		return EXIT_FAIL;
	thaw_sandbox **children = NULL;
	size_t n = 0;
	thaw_error *e = NULL;
	if (thaw_sandbox_fork(c, a.pos[0], count, &children, &n, &e) < 0)
		return cli_fail(e);
	for (size_t i = 0; i < n; i++)
		printf("%s\n", children[i]->id);
	thaw_sandbox_list_free(children, n);
	return EXIT_OK;
}

const struct cli_command cmd_fork = {
	.name = "fork",
	.args = "[-n COUNT] ID",
	.summary = "Copy a running sandbox; print the copies' ids.",
	.help = "The copies start with the sandbox's memory (processes included) and disk\n"
		"as they are now; the sandbox goes on running. All or nothing.\n"
		"\n"
		"Options:\n"
		"  -n, --count N  how many copies, 1 to 16 (default 1)\n",
	.run = fork_run,
};
