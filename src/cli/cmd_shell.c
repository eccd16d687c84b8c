/* thaw shell: an interactive shell (or command) in a sandbox on a
 * pseudo-terminal. Our terminal goes raw so that every key, ^C included,
 * reaches the guest; window size changes follow (SIGWINCH). Exits with
 * the shell's exit status. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t winch = 1; /* send the size once at start */

static void on_winch(int sig)
{
	(void)sig;
	winch = 1;
}

static void term_size(int *rows, int *cols)
{
	struct winsize ws;
	*rows = 24;
	*cols = 80;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

static int to_stdout(int stream, const char *data, size_t len, void *ud)
{
	(void)stream;
	(void)ud;
	return cli_write(STDOUT_FILENO, data, len) ? 0 : 1;
}

/* Moves bytes both ways until the command ends; returns its status.
 * A send that fails (the command ended and thawd closed its side while
 * we were sending) stops our sending only: the output and exit status
 * thawd sent before closing are still read, and decide. */
static int shell_loop(thaw_shell *sh)
{
	bool sending = true;
	for (;;) {
		thaw_error *e = NULL;
		if (winch && sending) {
			winch = 0;
			int rows, cols;
			term_size(&rows, &cols);
			if (thaw_shell_resize(sh, rows, cols, &e) < 0) {
				thaw_error_free(e);
				sending = false;
			}
		}
		struct pollfd p[2] = { { .fd = sending ? STDIN_FILENO : -1, .events = POLLIN },
				       { .fd = thaw_shell_fd(sh), .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "thaw: shell: %s\r\n", strerror(errno));
			return EXIT_FAIL;
		}
		if (p[1].revents) {
			int code = 0;
			int st = thaw_shell_pump(sh, to_stdout, NULL, &code, &e);
			if (st < 0)
				return cli_fail(e);
			if (st == 0)
				return code >= 0 && code <= 255 ? code : EXIT_FAIL;
		}
		if (p[0].revents) {
			char buf[4096];
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n > 0 && thaw_shell_write(sh, buf, (size_t)n, &e) < 0) {
				thaw_error_free(e);
				sending = false;
			}
			if (n == 0) { /* our input ended: ^D for the shell, once */
				thaw_shell_write(sh, "\x04", 1, NULL);
				sending = false;
			}
		}
	}
}

static int shell_run(struct cli *cli, int argc, char **argv)
{
	const char *cmd = NULL;
	const struct cli_opt opts[] = { { NULL, 'c', OPT_VALUE, &cmd }, { 0 } };
	struct cli_args a;
	int rc = cli_parse(&cmd_shell, opts, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_shell, &a, 1, 1)) != 0)
		return cli_parse_exit(&cmd_shell, rc);
	thaw_client *c = cli_client(cli);
	if (!c)
		return EXIT_FAIL;
	int rows, cols;
	term_size(&rows, &cols);
	thaw_shell *sh = NULL;
	thaw_error *e = NULL;
	if (thaw_shell_open(c, a.pos[0], cmd, rows, cols, &sh, &e) < 0)
		return cli_fail(e);
	struct termios saved;
	bool tty = tcgetattr(STDIN_FILENO, &saved) == 0;
	if (tty) {
		struct termios raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	struct sigaction sa = { .sa_handler = on_winch };
	sigaction(SIGWINCH, &sa, NULL);
	rc = shell_loop(sh);
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	thaw_shell_close(sh);
	return rc;
}

const struct cli_command cmd_shell = {
	.name = "shell",
	.args = "[-c CMD] ID",
	.summary = "An interactive shell in a sandbox (a terminal: ^C, resizes).",
	.help = "Options:\n"
		"  -c CMD  run CMD (a shell string) on the terminal instead of a login shell\n"
		"Exits with the shell's exit status.\n",
	.run = shell_run,
};
