/* thaw hosts: a fleet's hosts (through thaw-control; admin keys), and
 * thaw hosts drain NAME, thaw hosts remove NAME. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* drain NAME or remove NAME: prints the name when done. */
static int hosts_act(struct cli *cli, const struct cli_args *a,
		     int (*act)(thaw_client *, const char *, thaw_error **))
{
	if (a->npos != 2)
		return cli_usage_error(&cmd_hosts, "%s needs one host name", a->pos[0]);
	thaw_client *c = cli_client(cli);
	thaw_error *e = NULL;
	if (!c)
		return EXIT_FAIL;
	if (act(c, a->pos[1], &e) < 0)
		return cli_fail(e);
	printf("%s\n", a->pos[1]);
	return EXIT_OK;
}

static int hosts_run(struct cli *cli, int argc, char **argv)
{
	static const char *const headers[] = { "NAME",	    "STATE",  "ADDRESS", "ACCEL",
					       "SANDBOXES", "MEMORY", "VCPUS",	 "TEMPLATES",
					       "LAST_HEARTBEAT" };
	struct cli_args a;
	int rc = cli_parse(&cmd_hosts, (const struct cli_opt[]){ { 0 } }, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_hosts, &a, 0, (size_t)argc)) != 0)
		return cli_parse_exit(&cmd_hosts, rc);
	if (a.npos > 0 && strcmp(a.pos[0], "drain") == 0)
		return hosts_act(cli, &a, thaw_host_drain);
	if (a.npos > 0 && strcmp(a.pos[0], "remove") == 0)
		return hosts_act(cli, &a, thaw_host_remove);
	if (a.npos > 0)
		return cli_usage_error(&cmd_hosts, "unknown subcommand '%s'", a.pos[0]);
	thaw_client *c = cli_client(cli);
	thaw_error *e = NULL;
	thaw_host **list = NULL;
	size_t n = 0;
	if (!c)
		return EXIT_FAIL;
	if (thaw_host_list(c, &list, &n, &e) < 0)
		return cli_fail(e);
	struct cli_table *t = cli_table_new(9, headers);
	for (size_t i = 0; i < n; i++) {
		const thaw_host *h = list[i];
		char sb[32], mem[32], cpus[16], tpl[16];
		snprintf(sb, sizeof(sb), "%d/%d", h->sandboxes, h->max_sandboxes);
		snprintf(mem, sizeof(mem), "%d MiB", h->memory_mb);
		snprintf(cpus, sizeof(cpus), "%d", h->vcpus);
		snprintf(tpl, sizeof(tpl), "%d", h->templates);
		const char *row[] = { h->name, h->state, h->address, h->accel, sb, mem,
				      cpus,    tpl,	 h->last_heartbeat };
		cli_table_add(t, row);
	}
	cli_table_print(t);
	thaw_host_list_free(list, n);
	return EXIT_OK;
}

const struct cli_command cmd_hosts = {
	.name = "hosts",
	.args = "[drain NAME | remove NAME]",
	.summary = "A fleet's hosts and their state (thaw-control, admin keys); drain one, or "
		   "remove one that is down and empty.",
	.run = hosts_run,
};
