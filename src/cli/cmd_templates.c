/* thaw templates: what can be created from, and in what shape. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void templates_row(struct cli_table *t, const thaw_template *tp)
{
	char memory[32], boot[32], where[48];
	snprintf(memory, sizeof(memory), "%d MiB", tp->memory_mb);
	if (tp->location && tp->cached_percent >= 0)
		snprintf(where, sizeof(where), "%s (%.0f%% cached)", tp->location,
			 tp->cached_percent);
	else
		snprintf(where, sizeof(where), "%s", tp->location ? tp->location : "");
	snprintf(boot, sizeof(boot), "%.0f", tp->boot_ms);
	const char *row[] = { tp->name,
			      tp->status,
			      tp->source,
			      tp->build_id,
			      tp->memory_mb > 0 ? memory : NULL,
			      tp->boot_ms > 0 ? boot : NULL,
			      where[0] ? where : NULL,
			      tp->detail };
	cli_table_add(t, row);
}

/* thaw templates rm NAME...: every name is tried even after a failure. */
static int templates_rm(struct cli *cli, const struct cli_args *a)
{
	if (a->npos < 2)
		return cli_usage_error(&cmd_templates, "rm needs at least one template name");
	thaw_client *c = cli_client(cli);
	if (!c)
		return EXIT_FAIL;
	int rc = EXIT_OK;
	for (size_t i = 1; i < a->npos; i++) {
		thaw_error *e = NULL;
		if (thaw_template_delete(c, a->pos[i], &e) < 0) {
			rc = cli_fail(e);
			continue;
		}
		printf("%s\n", a->pos[i]);
		fflush(stdout);
	}
	return rc;
}

static int templates_run(struct cli *cli, int argc, char **argv)
{
	static const char *const headers[] = { "NAME",	 "STATUS",  "SOURCE",	 "BUILD",
					       "MEMORY", "BOOT_MS", "ARTIFACTS", "DETAIL" };
	struct cli_args a;
	int rc =
		cli_parse(&cmd_templates, (const struct cli_opt[]){ { 0 } }, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_templates, &a, 0, (size_t)argc)) != 0)
		return cli_parse_exit(&cmd_templates, rc);
	if (a.npos > 0 && strcmp(a.pos[0], "rm") == 0)
		return templates_rm(cli, &a);
	if (a.npos > 0)
		return cli_usage_error(&cmd_templates, "unknown subcommand '%s'", a.pos[0]);
	thaw_client *c = cli_client(cli);
	thaw_template **list = NULL;
	size_t n = 0;
	thaw_error *e = NULL;
	if (!c)
		return EXIT_FAIL;
	if (thaw_template_list(c, &list, &n, &e) < 0)
		return cli_fail(e);
	struct cli_table *t = cli_table_new(8, headers);
	for (size_t i = 0; i < n; i++)
		templates_row(t, list[i]);
	cli_table_print(t);
	thaw_template_list_free(list, n);
	return EXIT_OK;
}

const struct cli_command cmd_templates = {
	.name = "templates",
	.args = "[rm NAME...]",
	.summary = "List the templates, or delete unused ones.",
	.help = "  thaw templates           list them: status, where each came from (bake or\n"
		"                           the sandbox it was snapshotted from), size, where\n"
		"                           its files are (local, local+remote: also in the\n"
		"                           object store, remote: streamed from it)\n"
		"  thaw templates rm NAME   delete templates no sandbox uses\n",
	.run = templates_run,
};
