/* thaw ls: the sandboxes, as a table or as the server's JSON. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static void ls_table(thaw_sandbox *const *list, size_t n)
{
	static const char *const headers[] = { "ID", "TEMPLATE", "STATE", "CREATED", "TIMEOUT" };
	struct cli_table *t = cli_table_new(5, headers);
	for (size_t i = 0; i < n; i++) {
		const thaw_sandbox *sb = list[i];
		const char *row[] = { sb->id, sb->template_name, sb->state, sb->created_at,
				      sb->timeout_at };
		cli_table_add(t, row);
	}
	cli_table_print(t);
}

static void ls_json(thaw_sandbox *const *list, size_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		abort();
	fputc('[', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "", list[i]->json);
	fputc(']', f);
	fclose(f);
	cli_print_json(text);
	free(text);
}

static int ls_run(struct cli *cli, int argc, char **argv)
{
	bool json = false;
	const struct cli_opt opts[] = { { "json", 0, OPT_FLAG, &json }, { 0 } };
	struct cli_args a;
	int rc = cli_parse(&cmd_ls, opts, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_ls, &a, 0, 0)) != 0)
		return cli_parse_exit(&cmd_ls, rc);
	thaw_client *c = cli_client(cli);
	thaw_sandbox **list = NULL;
	size_t n = 0;
	thaw_error *e = NULL;
	if (!c)
		return EXIT_FAIL;
	if (thaw_sandbox_list(c, &list, &n, &e) < 0)
		return cli_fail(e);
	if (json)
		ls_json(list, n);
	else
		ls_table(list, n);
	thaw_sandbox_list_free(list, n);
	return EXIT_OK;
}

const struct cli_command cmd_ls = {
	.name = "ls",
	.args = "[--json]",
	.summary = "List the sandboxes.",
	.help = "Options:\n"
		"  --json  print the sandbox objects as a JSON array\n",
	.run = ls_run,
};
