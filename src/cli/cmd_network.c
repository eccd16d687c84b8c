/* thaw network: replace a running or paused sandbox's egress policy. */
#include <stdio.h>

#include "cli.h"

static void print_list(const char *what, const struct cli_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		printf(" %s %s", what, l->items[i]);
}

static int network_with(struct cli *cli, int argc, char **argv, struct cli_list *allow,
			struct cli_list *deny)
{
	bool no_internet = false;
	const struct cli_opt opts[] = {
		{ "no-internet", 0, OPT_FLAG, &no_internet },
		{ "allow", 0, OPT_LIST, allow },
		{ "deny", 0, OPT_LIST, deny },
		{ 0 },
	};
	struct cli_args a;
	int rc = cli_parse(&cmd_network, opts, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_network, &a, 1, 1)) != 0)
		return cli_parse_exit(&cmd_network, rc);
	thaw_network_policy p = { .no_internet = no_internet,
				  .allow = allow->n ? allow->items : NULL,
				  .deny = deny->n ? deny->items : NULL };
	thaw_client *c = cli_client(cli);
	if (!c)
		return EXIT_FAIL;
	thaw_sandbox *sb = NULL;
	thaw_error *e = NULL;
	if (thaw_sandbox_set_network(c, a.pos[0], &p, &sb, &e) < 0)
		return cli_fail(e);
	printf("%s internet=%s", sb->id, no_internet ? "no" : "yes");
	print_list("allow", allow);
	print_list("deny", deny);
	printf("\n");
	thaw_sandbox_free(sb);
	return EXIT_OK;
}

static int network_run(struct cli *cli, int argc, char **argv)
{
	struct cli_list allow = { 0 }, deny = { 0 };
	int rc = network_with(cli, argc, argv, &allow, &deny);
	cli_list_free(&allow);
	cli_list_free(&deny);
	return rc;
}

const struct cli_command cmd_network = {
	.name = "network",
	.args = "[--no-internet] [--allow CIDR[:PORT]]... [--deny CIDR[:PORT]]... ID",
	.summary = "Replace a sandbox's network policy (no options: the default).",
	.help = "An --allow entry wins over a --deny entry, which wins over --no-internet;\n"
		"entries are IPv4 addresses or CIDRs, a port means TCP and UDP to it.\n"
		"The host-wide rules (private ranges, metadata) still apply.\n",
	.run = network_run,
};
