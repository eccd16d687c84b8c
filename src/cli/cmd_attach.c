/* thaw attach: follow a command of the sandbox's process table, its
 * output on ours, its exit status as ours, as if thaw exec had started it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int pass_output(int stream, const char *data, size_t len, void *ud)
{
	if (cli_write(stream == 2 ? STDERR_FILENO : STDOUT_FILENO, data, len))
		return 0;
	*(int *)ud = errno ? errno : EIO;
	return 1;
}

static int attach_run(struct cli *cli, int argc, char **argv)
{
	bool now = false;
	const struct cli_opt opts[] = { { "now", 0, OPT_FLAG, &now }, { 0 } };
	struct cli_args a;
	int pid = 0;
	int rc = cli_parse(&cmd_attach, opts, false, argc, argv, &a);
	if (rc == 0)
		rc = cli_want_args(&cmd_attach, &a, 2, 2);
	if (rc == 0)
		rc = cli_parse_int(&cmd_attach, "PID", a.pos[1], 2, 4194304, &pid);
	if (rc != 0)
		return cli_parse_exit(&cmd_attach, rc);
	thaw_client *c = cli_client(cli);
	thaw_exec_result *r = NULL;
	thaw_error *e = NULL;
	int write_errno = 0;
	if (!c)
		return EXIT_FAIL;
	if (thaw_process_attach(c, a.pos[0], (unsigned)pid, !now, pass_output, &write_errno, &r,
				&e) < 0) {
		if (!write_errno)
			return cli_fail(e);
		thaw_error_free(e);
		fprintf(stderr, "thaw: cannot write the output: %s\n", strerror(write_errno));
		return EXIT_FAIL;
	}
	rc = r->timed_out				? EXIT_TIMEOUT
	     : r->exit_code >= 0 && r->exit_code <= 255 ? r->exit_code
							: EXIT_FAIL;
	thaw_exec_result_free(r);
	return rc;
}

const struct cli_command cmd_attach = {
	.name = "attach",
	.args = "[--now] ID PID",
	.summary = "Follow a command of the sandbox (thaw ps); exit with its exit status.",
	.help = "Its output from what the sandbox kept of it (the last 1 MiB), then as it\n"
		"comes, byte for byte; leaving (Ctrl-C) leaves it running.\n"
		"\n"
		"Options:\n"
		"  --now            only the output from now on\n",
	.run = attach_run,
};
