/* thaw create: start a sandbox and print its id alone, for scripts:
 * id=$(thaw create). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int create_run(struct cli *cli, int argc, char **argv)
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
		{ 0 },
	};
	struct cli_args a;
	int rc = cli_parse(&cmd_create, opts, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_create, &a, 0, 0)) != 0)
		return cli_parse_exit(&cmd_create, rc);
	thaw_create_options o = { .template_name = template_name,
				  .metadata_json = metadata,
				  .auto_resume = auto_resume };
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
	thaw_sandbox_free(sb);
	return EXIT_OK;
}

const struct cli_command cmd_create = {
	.name = "create",
	.args = "[--template T] [--timeout S] [--on-timeout pause|delete] [--auto-resume] "
		"[--metadata JSON] [--cpus N]",
	.summary = "Create a sandbox and print its id.",
	.help = "Options:\n"
		"  --template T     the template to start from (default: the server's)\n"
		"  --timeout S      delete the sandbox after S seconds; 0: never\n"
		"                   (default: the server's)\n"
		"  --on-timeout A   what the timeout does: delete (default) or pause\n"
		"  --auto-resume    an exec on the paused sandbox resumes it\n"
		"  --metadata JSON  a JSON object stored with the sandbox\n"
		"  --cpus N         CPU time it may use, in cores (e.g. 0.5; at most its\n"
		"                   template's vCPUs; default: all of them)\n",
	.run = create_run,
};
