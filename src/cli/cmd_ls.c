/* thaw ls: the sandboxes, as a table or as the server's JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"

/* How long ago an RFC 3339 UTC time was, as "42s", "7m", "3h", "2d". */
static void age_of(const char *rfc3339, char *out, size_t len)
{
	struct tm tm = { 0 };
	const char *end = rfc3339 ? strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!end) {
		snprintf(out, len, "-");
		return;
	}
	long long s = (long long)(time(NULL) - timegm(&tm));
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(out, len, "%llds", s);
	else if (s < 7200)
		snprintf(out, len, "%lldm", s / 60);
	else if (s < 172800)
		snprintf(out, len, "%lldh", s / 3600);
	else
		snprintf(out, len, "%lldd", s / 86400);
}

static void ls_table(thaw_sandbox *const *list, size_t n)
{
	static const char *const headers[] = {
		"ID", "TEMPLATE", "STATE", "AGE", "TIMEOUT", "OWNER", "PARENT"
	};
	struct cli_table *t = cli_table_new(7, headers);
	for (size_t i = 0; i < n; i++) {
		const thaw_sandbox *sb = list[i];
		char age[32], timeout[96];
		age_of(sb->created_at, age, sizeof(age));
		snprintf(timeout, sizeof(timeout), "%s%s",
			 sb->timeout_at ? sb->timeout_at : "never",
			 sb->pause_on_timeout ? " (pause)" : "");
		const char *row[] = {
			sb->id, sb->template_name, sb->state, age, timeout, sb->owner, sb->parent
		};
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
	thaw_list_options lo = { 0 };
	struct cli_list meta = { 0 };
	const struct cli_opt opts[] = { { "json", 0, OPT_FLAG, &json },
					{ "state", 0, OPT_VALUE, &lo.state },
					{ "template", 0, OPT_VALUE, &lo.template_name },
					{ "owner", 0, OPT_VALUE, &lo.owner },
					{ "metadata", 0, OPT_LIST, &meta },
					{ 0 } };
	struct cli_args a;
	int rc = cli_parse(&cmd_ls, opts, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_ls, &a, 0, 0)) != 0) {
		cli_list_free(&meta);
		return cli_parse_exit(&cmd_ls, rc);
	}
	lo.metadata = meta.items;
	thaw_client *c = cli_client(cli);
	thaw_sandbox **list = NULL;
	size_t n = 0;
	thaw_error *e = NULL;
	if (!c) {
		cli_list_free(&meta);
		return EXIT_FAIL;
	}
	rc = thaw_sandbox_list_where(c, &lo, &list, &n, &e);
	cli_list_free(&meta);
	if (rc < 0)
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
	.args = "[--state S] [--template T] [--owner KEY] [--metadata K=V]... [--json]",
	.summary = "List the sandboxes.",
	.help = "Options:\n"
		"  --state S        only those in state S (running, paused, ...)\n"
		"  --template T     only those made from template T\n"
		"  --owner KEY      only those of API key KEY (admin keys)\n"
		"  --metadata K=V   only those whose metadata K is V (repeatable: all must match)\n"
		"  --json           print the sandbox objects as a JSON array\n",
	.run = ls_run,
};
