/* thaw exec: run a command in a sandbox and behave like that command:
 * its stdout and stderr byte for byte, its exit status as ours. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Bounds what --stdin holds in memory; the server's own request limit
 * is lower still and answers with a clear error. */
#define MAX_STDIN ((size_t)16 << 20)

struct exec_args {
	struct cli_list env;
	const char *cwd, *timeout, *shell, *user, *tag;
	bool use_stdin;
	bool auto_resume;
	int timeout_s;
	const char *id;
	const char *const *argv; /* NULL when shell is used */
};

/* Checks the option values; the server checks env names and limits. */
static int exec_check_opts(struct exec_args *x)
{
	for (size_t i = 0; i < x->env.n; i++) {
		const char *eq = strchr(x->env.items[i], '=');
		if (!eq || eq == x->env.items[i])
			return cli_usage_error(&cmd_exec, "--env needs KEY=VALUE, not '%s'",
					       x->env.items[i]);
	}
	if (x->cwd && x->cwd[0] != '/')
		return cli_usage_error(&cmd_exec, "--cwd must be an absolute path");
	if (x->timeout &&
	    cli_parse_int(&cmd_exec, "--timeout", x->timeout, 1, INT_MAX, &x->timeout_s) != 0)
		return EXIT_USAGE;
	if (x->shell && !*x->shell)
		return cli_usage_error(&cmd_exec, "-c needs a non-empty shell command");
	return 0;
}

/* ID, then either -c SHELL or -- CMD [ARGS...]. */
static int exec_check_command(struct exec_args *x, const struct cli_args *a)
{
	if (a->npos == 0)
		return cli_usage_error(&cmd_exec, "missing sandbox id");
	if (a->npos > 1 && !a->dashdash && !x->shell)
		return cli_usage_error(&cmd_exec, "put '--' between the id and the command");
	if (a->npos > 1)
		return cli_usage_error(&cmd_exec, "unexpected argument '%s'", a->pos[1]);
	if (x->shell && a->nrest)
		return cli_usage_error(&cmd_exec, "give -c SHELL or -- CMD, not both");
	if (!x->shell && a->nrest == 0)
		return cli_usage_error(&cmd_exec, "missing command after '--'");
	if (!x->shell && !a->rest[0][0])
		return cli_usage_error(&cmd_exec, "the command name must not be empty");
	x->id = a->pos[0];
	x->argv = x->shell ? NULL : (const char *const *)a->rest;
	return 0;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		abort();
	return p;
}

/* Reads all of our stdin; prints why and returns EXIT_FAIL when it cannot. */
static int exec_read_stdin(char **out, size_t *out_len)
{
	size_t cap = 65536, len = 0;
	char *data = xrealloc(NULL, cap);
	ssize_t n;
	do {
		if (len == cap)
			data = xrealloc(data, cap *= 2);
		n = read(STDIN_FILENO, data + len, cap - len);
		if (n > 0)
			len += (size_t)n;
	} while ((n > 0 || (n < 0 && errno == EINTR)) && len <= MAX_STDIN);
	if (n < 0)
		fprintf(stderr, "thaw: cannot read stdin: %s\n", strerror(errno));
	else if (len > MAX_STDIN)
		fprintf(stderr, "thaw: stdin is larger than %zu MiB\n", MAX_STDIN >> 20);
	if (n < 0 || len > MAX_STDIN) {
		free(data);
		return EXIT_FAIL;
	}
	*out = data;
	*out_len = len;
	return 0;
}

/* The command's output, as it comes, to our own stdout and stderr. A
 * write that fails (a closed pipe) stops the command. */
static int pass_output(int stream, const char *data, size_t len, void *ud)
{
	if (cli_write(stream == 2 ? STDERR_FILENO : STDOUT_FILENO, data, len))
		return 0;
	*(int *)ud = errno ? errno : EIO;
	return 1;
}

/* Passes the command's status on as our own (its output went already). */
static int exec_report(const struct exec_args *x, const thaw_exec_result *r)
{
	if (r->timed_out) {
		int secs = x->timeout_s ? x->timeout_s : (int)(r->duration_ms / 1000.0 + 0.5);
		fprintf(stderr, "thaw: command timed out after %d s\n", secs);
		return EXIT_TIMEOUT;
	}
	return r->exit_code >= 0 && r->exit_code <= 255 ? r->exit_code : EXIT_FAIL;
}

static int exec_call(struct cli *cli, const struct exec_args *x, const char *in, size_t in_len)
{
	thaw_exec_options o = {
		.argv = x->argv,
		.shell = x->shell,
		.env = x->env.n ? x->env.items : NULL,
		.cwd = x->cwd,
		.stdin_data = in,
		.stdin_len = in_len,
		.has_stdin = x->use_stdin,
		.timeout_s = x->timeout_s,
		.auto_resume = x->auto_resume,
		.user = x->user,
		.tag = x->tag,
		/* Like a command run here: stopping thaw stops it. */
		.kill_on_disconnect = true,
	};
	thaw_client *c = cli_client(cli);
	thaw_exec_result *r = NULL;
	thaw_error *e = NULL;
	if (!c)
		return EXIT_FAIL;
	int write_errno = 0;
	if (thaw_sandbox_exec_stream(c, x->id, &o, pass_output, &write_errno, &r, &e) < 0) {
		if (write_errno) {
			thaw_error_free(e);
			fprintf(stderr, "thaw: cannot write the command's output: %s\n",
				strerror(write_errno));
			return EXIT_FAIL;
		}
		return cli_fail(e);
	}
	int rc = exec_report(x, r);
	thaw_exec_result_free(r);
	return rc;
}

static int exec_run(struct cli *cli, int argc, char **argv)
{
	struct exec_args x = { 0 };
	const struct cli_opt opts[] = {
		{ "env", 'e', OPT_LIST, &x.env },
		{ "cwd", 0, OPT_VALUE, &x.cwd },
		{ "timeout", 0, OPT_VALUE, &x.timeout },
		{ "stdin", 'i', OPT_FLAG, &x.use_stdin },
		{ NULL, 'c', OPT_VALUE, &x.shell },
		{ "auto-resume", 0, OPT_FLAG, &x.auto_resume },
		{ "user", 'u', OPT_VALUE, &x.user },
		{ "tag", 0, OPT_VALUE, &x.tag },
		{ 0 },
	};
	struct cli_args a;
	char *in = NULL;
	size_t in_len = 0;
	int rc = cli_parse(&cmd_exec, opts, false, argc, argv, &a);
	if (rc == 0)
		rc = exec_check_opts(&x);
	if (rc == 0)
		rc = exec_check_command(&x, &a);
	if (rc == 0 && x.use_stdin)
		rc = exec_read_stdin(&in, &in_len);
	rc = rc == 0 ? exec_call(cli, &x, in, in_len) : cli_parse_exit(&cmd_exec, rc);
	free(in);
	cli_list_free(&x.env);
	return rc;
}

const struct cli_command cmd_exec = {
	.name = "exec",
	.args = "[--env K=V]... [--cwd DIR] [--timeout S] [--stdin] [--auto-resume] [--user U] "
		"[--tag T] ID (-- CMD [ARGS...] | -c SHELL)",
	.summary = "Run a command in a sandbox; exit with its exit status.",
	.help = "The command's stdout and stderr are copied to ours byte for byte, as the\n"
		"command writes them. A command that runs out of time exits 124; stopping\n"
		"thaw (Ctrl-C, a closed pipe) stops the command in the sandbox.\n"
		"\n"
		"Options:\n"
		"  -e, --env K=V    set an environment variable (repeatable)\n"
		"  --cwd DIR        run in DIR (an absolute path)\n"
		"  --timeout S      kill the command after S seconds (default: the server's)\n"
		"  -i, --stdin      send all of our stdin to the command\n"
		"  -c SHELL         run SHELL with /bin/sh -c instead of CMD\n"
		"  --auto-resume    resume the sandbox first if it is paused\n"
		"  -u, --user U     run as user U of the sandbox (its /etc/passwd)\n"
		"  --tag T          name the command in the sandbox's process table (thaw ps)\n",
	.run = exec_run,
};
