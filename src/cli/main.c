/* thaw: the command-line client of thawd. Global options, then a
 * subcommand looked up in a table; each subcommand lives in its own file. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int help_run(struct cli *cli, int argc, char **argv);

static const struct cli_command cmd_help = {
	.name = "help",
	.args = "[COMMAND]",
	.summary = "Show help for thaw or for one command.",
	.run = help_run,
};

static const struct cli_command *const commands[] = {
	&cmd_create,	&cmd_exec,	&cmd_run_code, &cmd_ls,   &cmd_get,	&cmd_rm,     &cmd_cp,
	&cmd_files,	&cmd_shell,	&cmd_fork, &cmd_pause,	&cmd_resume, &cmd_recover, &cmd_snapshot,
	&cmd_keepalive, &cmd_network, &cmd_templates, &cmd_bake, &cmd_hosts, &cmd_health, &cmd_help,
	&cmd_ps,	&cmd_attach,	&cmd_port_forward, &cmd_metrics,
};

/* The options before the subcommand, reported like a command's. */
static const struct cli_command global = {
	.name = NULL,
	.args = "[--url URL] [--key-file PATH] COMMAND [ARGS...]",
};

static const struct cli_command *command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

static void print_overview(FILE *f)
{
	fprintf(f, "usage: thaw %s\n\nCommands:\n", global.args);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\nGlobal options:\n"
		   "  --url URL        thawd's API address (default: $THAW_API_URL, then\n"
		   "                   " THAW_DEFAULT_API_URL ")\n"
		   "  --key-file PATH  read the API key from PATH (default: $THAW_API_KEY, then\n"
		   "                   " THAW_DEFAULT_KEY_FILE ")\n"
		   "  --version        print the version\n"
		   "  -h, --help       show this help\n"
		   "\nRun 'thaw help COMMAND' for a command's options.\n");
}

static int help_run(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	struct cli_args a;
	int rc = cli_parse(&cmd_help, (const struct cli_opt[]){ { 0 } }, false, argc, argv, &a);
	if (rc != 0)
		return cli_parse_exit(&cmd_help, rc);
	if ((rc = cli_want_args(&cmd_help, &a, 0, 1)) != 0)
		return rc;
	if (a.npos == 0) {
		print_overview(stdout);
		return EXIT_OK;
	}
	const struct cli_command *cmd = command_find(a.pos[0]);
	if (!cmd)
		return cli_usage_error(&cmd_help, "unknown command '%s'", a.pos[0]);
	cli_print_help(cmd);
	return EXIT_OK;
}

/* Output that could not be written is a failure even if the API call
 * worked: `thaw ls > /full/disk` must not exit 0. */
static int finish_output(int rc)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return rc;
	fprintf(stderr, "thaw: cannot write the output: %s\n", strerror(errno));
	return rc == EXIT_OK ? EXIT_FAIL : rc;
}

int main(int argc, char **argv)
{
	const char *url = NULL, *key_file = NULL;
	bool version = false;
	const struct cli_opt opts[] = {
		{ "url", 0, OPT_VALUE, &url },
		{ "key-file", 0, OPT_VALUE, &key_file },
		{ "version", 0, OPT_FLAG, &version },
		{ 0 },
	};
	struct cli_args a;
	int rc = cli_parse(&global, opts, true, argc, argv, &a);
	if (rc == CLI_HELP)
		print_overview(stdout);
	if (rc != 0)
		return rc == CLI_HELP ? finish_output(EXIT_OK) : rc;
	if (version) {
		printf("thaw %s\n", THAW_VERSION);
		return finish_output(EXIT_OK);
	}
	if (a.npos == 0) {
		print_overview(stderr);
		return EXIT_USAGE;
	}
	const struct cli_command *cmd = command_find(a.pos[0]);
	if (!cmd)
		return cli_usage_error(&global, "unknown command '%s'", a.pos[0]);
	if ((url && !*url) || (key_file && !*key_file))
		return cli_usage_error(&global, "--url and --key-file need a non-empty value");
	struct cli cli = { .opts = { .api_url = url, .api_key_file = key_file } };
	rc = cmd->run(&cli, (int)a.npos, a.pos);
	thaw_client_free(cli.client);
	return finish_output(rc);
}
