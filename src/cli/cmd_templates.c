/* thaw templates: what can be created from, and in what shape. */
#include <stdio.h>

#include "cli.h"

static void templates_row(struct cli_table *t, const thaw_template *tp)
{
	char memory[32], boot[32];
	snprintf(memory, sizeof(memory), "%d MiB", tp->memory_mb);
	snprintf(boot, sizeof(boot), "%.0f", tp->boot_ms);
	const char *row[] = { tp->name,
			      tp->status,
			      tp->build_id,
			      tp->memory_mb > 0 ? memory : NULL,
			      tp->boot_ms > 0 ? boot : NULL,
			      tp->detail };
	cli_table_add(t, row);
}

static int templates_run(struct cli *cli, int argc, char **argv)
{
	static const char *const headers[] = { "NAME",   "STATUS",  "BUILD",
					       "MEMORY", "BOOT_MS", "DETAIL" };
	struct cli_args a;
	int rc =
		cli_parse(&cmd_templates, (const struct cli_opt[]){ { 0 } }, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_templates, &a, 0, 0)) != 0)
		return cli_parse_exit(&cmd_templates, rc);
	thaw_client *c = cli_client(cli);
	thaw_template **list = NULL;
	size_t n = 0;
	thaw_error *e = NULL;
	if (!c)
		return EXIT_FAIL;
	if (thaw_template_list(c, &list, &n, &e) < 0)
		return cli_fail(e);
	struct cli_table *t = cli_table_new(6, headers);
	for (size_t i = 0; i < n; i++)
		templates_row(t, list[i]);
	cli_table_print(t);
	thaw_template_list_free(list, n);
	return EXIT_OK;
}

const struct cli_command cmd_templates = {
	.name = "templates",
	.args = "",
	.summary = "List the templates and their builds.",
	.run = templates_run,
};
