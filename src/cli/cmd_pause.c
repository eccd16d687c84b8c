/* thaw pause and thaw resume: scale sandboxes to zero and back; thaw
 * recover: boot failed ones on their kept disks (issue 17). Every id
 * is tried even after a failure; each one done is printed. */
#include <stdio.h>

#include "cli.h"

typedef int (*state_fn)(thaw_client *client, const char *id, thaw_sandbox **out, thaw_error **err);

static int change_each(const struct cli_command *cmd, state_fn fn, struct cli *cli, int argc,
		       char **argv)
{
	struct cli_args a;
	int rc = cli_parse(cmd, (const struct cli_opt[]){ { 0 } }, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(cmd, &a, 1, (size_t)argc)) != 0)
		return cli_parse_exit(cmd, rc);
	thaw_client *c = cli_client(cli);
	if (!c)
		return EXIT_FAIL;
	for (size_t i = 0; i < a.npos; i++) {
		thaw_error *e = NULL;
		if (fn(c, a.pos[i], NULL, &e) < 0) {
			rc = cli_fail(e);
			continue;
		}
		printf("%s\n", a.pos[i]);
		fflush(stdout);
	}
	return rc;
}

static int pause_run(struct cli *cli, int argc, char **argv)
{
	return change_each(&cmd_pause, thaw_sandbox_pause, cli, argc, argv);
}

static int resume_run(struct cli *cli, int argc, char **argv)
{
	return change_each(&cmd_resume, thaw_sandbox_resume, cli, argc, argv);
}

static int recover_run(struct cli *cli, int argc, char **argv)
{
	return change_each(&cmd_recover, thaw_sandbox_recover, cli, argc, argv);
}

const struct cli_command cmd_pause = {
	.name = "pause",
	.args = "ID...",
	.summary = "Save sandboxes to disk and stop their VMs (no RAM, no CPU).",
	.run = pause_run,
};

const struct cli_command cmd_resume = {
	.name = "resume",
	.args = "ID...",
	.summary = "Bring paused sandboxes back where they stopped.",
	.run = resume_run,
};

const struct cli_command cmd_recover = {
	.name = "recover",
	.args = "ID...",
	.summary = "Boot failed database sandboxes on their kept disks (the database recovers).",
	.run = recover_run,
};
