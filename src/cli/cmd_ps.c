/* thaw ps: the sandbox's process table, as a table or as the server's
 * JSON. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static void ps_table(thaw_process *const *list, size_t n)
{
	static const char *const headers[] = { "PID", "TAG", "STATUS", "STARTED", "COMMAND" };
	struct cli_table *t = cli_table_new(5, headers);
	for (size_t i = 0; i < n; i++) {
		const thaw_process *p = list[i];
		char pid[16], status[32];
		snprintf(pid, sizeof(pid), "%u", p->pid);
		if (p->running)
			snprintf(status, sizeof(status), "running%s", p->pty ? " (pty)" : "");
		else if (p->signal)
			snprintf(status, sizeof(status), "killed %d", p->signal);
		else
			snprintf(status, sizeof(status), "exited %d", p->exit_code);
		const char *row[] = { pid, p->tag ? p->tag : "-", status,
				      p->started_at ? p->started_at : "-", p->cmd };
		cli_table_add(t, row);
	}
	cli_table_print(t);
}

static void ps_json(thaw_process *const *list, size_t n)
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

static int ps_run(struct cli *cli, int argc, char **argv)
{
	bool json = false;
	const struct cli_opt opts[] = { { "json", 0, OPT_FLAG, &json }, { 0 } };
	struct cli_args a;
	int rc = cli_parse(&cmd_ps, opts, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_ps, &a, 1, 1)) != 0)
		return cli_parse_exit(&cmd_ps, rc);
	thaw_client *c = cli_client(cli);
	thaw_process **list = NULL;
	size_t n = 0;
	thaw_error *e = NULL;
	if (!c)
		return EXIT_FAIL;
	if (thaw_process_list(c, a.pos[0], &list, &n, &e) < 0)
		return cli_fail(e);
	if (json)
		ps_json(list, n);
	else
		ps_table(list, n);
	thaw_process_list_free(list, n);
	return EXIT_OK;
}

const struct cli_command cmd_ps = {
	.name = "ps",
	.args = "[--json] ID",
	.summary = "List the commands a sandbox ran lately (its process table).",
	.help = "Every command an exec started, running or ended lately, by pid: a\n"
		"command outlives the request that started it. thaw attach follows one.\n"
		"\n"
		"Options:\n"
		"  --json           print the server's objects\n",
	.run = ps_run,
};
