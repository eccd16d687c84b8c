/* thaw create: start a sandbox and print its id alone, for scripts:
 * id=$(thaw create). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* What a create asks for besides its options' values: lists, freed by
 * create_run whatever happens. */
struct create_lists {
	struct cli_list env, allow, deny;
	bool no_internet;
};

/* --env's shape (KEY=VALUE); the server checks names and limits. */
static int check_env(const struct cli_list *env)
{
	for (size_t i = 0; i < env->n; i++) {
		const char *eq = strchr(env->items[i], '=');
		if (!eq || eq == env->items[i])
			return cli_usage_error(&cmd_create, "--env needs KEY=VALUE, not '%s'",
					       env->items[i]);
	}
	return 0;
}

static int create_with(struct cli *cli, int argc, char **argv, struct create_lists *l)
{
	const char *template_name = NULL, *timeout = NULL, *metadata = NULL, *on_timeout = NULL,
		   *cpus = NULL;
	bool auto_resume = false;
	const struct cli_opt opts[] = {
		{ "template", 0, OPT_VALUE, &template_name },
		{ "timeout", 0, OPT_VALUE, &timeout },
		{ "on-timeout", 0, OPT_VALUE, &on_timeout },
		{ "auto-resume", 0, OPT_FLAG, &auto_resume },
		{ "metadata", 0, OPT_VALUE, &metadata },
		{ "cpus", 0, OPT_VALUE, &cpus },
		{ "env", 'e', OPT_LIST, &l->env },
		{ "no-internet", 0, OPT_FLAG, &l->no_internet },
		{ "allow", 0, OPT_LIST, &l->allow },
		{ "deny", 0, OPT_LIST, &l->deny },
		{ 0 },
	};
	struct cli_args a;
	int rc = cli_parse(&cmd_create, opts, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_create, &a, 0, 0)) != 0)
		return cli_parse_exit(&cmd_create, rc);
	if (check_env(&l->env) != 0)
		return EXIT_USAGE;
	thaw_network_policy net = { .no_internet = l->no_internet,
				    .allow = l->allow.n ? l->allow.items : NULL,
				    .deny = l->deny.n ? l->deny.items : NULL };
	bool has_net = l->no_internet || l->allow.n || l->deny.n;
	thaw_create_options o = { .template_name = template_name,
				  .metadata_json = metadata,
				  .auto_resume = auto_resume,
				  .network = has_net ? &net : NULL,
				  .env = l->env.n ? l->env.items : NULL };
	if (template_name && !*template_name)
		return cli_usage_error(&cmd_create, "--template must not be empty");
	if (on_timeout && strcmp(on_timeout, "pause") != 0 && strcmp(on_timeout, "delete") != 0)
		return cli_usage_error(&cmd_create, "--on-timeout must be pause or delete");
	o.pause_on_timeout = on_timeout && strcmp(on_timeout, "pause") == 0;
	int secs = 0;
	if (timeout && cli_parse_int(&cmd_create, "--timeout", timeout, 0, INT_MAX, &secs) != 0)
		return EXIT_USAGE;
	if (timeout)
		o.timeout_s = secs ? secs : THAW_TIMEOUT_NONE;
	if (cpus) {
		char *end;
		o.cpus = strtod(cpus, &end);
		if (end == cpus || *end || !(o.cpus > 0))
			return cli_usage_error(&cmd_create, "--cpus must be a positive number of cores");
	}
	thaw_client *c = cli_client(cli);
	thaw_sandbox *sb = NULL;
	thaw_error *e = NULL;
	if (!c)
		return EXIT_FAIL;
	if (thaw_sandbox_create(c, &o, &sb, &e) < 0)
		return cli_fail(e);
	printf("%s\n", sb->id);
	fflush(stdout);
	cli_print_database(sb);
	thaw_sandbox_free(sb);
	return EXIT_OK;
}

static int create_run(struct cli *cli, int argc, char **argv)
{
	struct create_lists l = { 0 };
	int rc = create_with(cli, argc, argv, &l);
	cli_list_free(&l.env);
	cli_list_free(&l.allow);
	cli_list_free(&l.deny);
	return rc;
}

const struct cli_command cmd_create = {
	.name = "create",
	.args = "[--template T] [--timeout S] [--on-timeout pause|delete] [--auto-resume] "
		"[--metadata JSON] [--cpus N] [--env K=V]... [--no-internet] "
		"[--allow CIDR[:PORT]]... [--deny CIDR[:PORT]]...",
	.summary = "Create a sandbox and print its id.",
	.help = "Options:\n"
		"  --template T     the template to start from (default: the server's)\n"
		"  --timeout S      delete the sandbox after S seconds; 0: never\n"
		"                   (default: the server's)\n"
		"  --on-timeout A   what the timeout does: delete (default) or pause\n"
		"  --auto-resume    an exec on the paused sandbox resumes it\n"
		"  --metadata JSON  a JSON object stored with the sandbox\n"
		"  --cpus N         CPU time it may use, in cores (e.g. 0.5; at most its\n"
		"                   template's vCPUs; default: all of them)\n"
		"  -e, --env K=V    an environment variable of every command in it\n"
		"                   (repeatable; a command's own env wins)\n"
		"  --no-internet    its guest reaches only what --allow names\n"
		"  --allow C[:P]    an IPv4 address or CIDR (and port, TCP and UDP) it may\n"
		"                   reach, even when denied (repeatable)\n"
		"  --deny C[:P]     one it may not reach (repeatable)\n"
		"                   Host-wide rules (private ranges, metadata) still apply.\n",
	.run = create_run,
};
