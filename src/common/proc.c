#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"

extern char **environ;

#define TAIL_LINES 6

struct tail {
	char *lines[TAIL_LINES];
	int next;
};

static void tail_push(struct tail *t, const char *line)
{
	free(t->lines[t->next]);
	t->lines[t->next] = xstrdup(line);
	t->next = (t->next + 1) % TAIL_LINES;
}

static void tail_format(struct tail *t, struct buf *out)
{
	for (int i = 0; i < TAIL_LINES; i++) {
		char *l = t->lines[(t->next + i) % TAIL_LINES];
		if (l) {
			buf_printf(out, "%s%s", out->len ? " | " : "", l);
			free(l);
		}
	}
}

static char **merged_env(const char *const extra[])
{
	size_t n = 0, m = 0;
	while (environ[n])
		n++;
	while (extra && extra[m])
		m++;
	char **env = xcalloc(n + m + 1, sizeof(char *));
	for (size_t i = 0; i < m; i++)
		env[i] = (char *)extra[i];
	for (size_t i = 0; i < n; i++)
		env[m + i] = environ[i]; /* earlier entries win in getenv() */
	return env;
}

static void read_lines(int fd, struct tail *t, proc_line_fn on_line, void *ud)
{
	struct buf b = { 0 };
	char chunk[4096];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		buf_append(&b, chunk, (size_t)n);
		char *nl;
		while ((nl = memchr(b.data, '\n', b.len))) {
			*nl = '\0';
			tail_push(t, (char *)b.data);
			if (on_line)
				on_line((char *)b.data, ud);
			buf_consume(&b, (size_t)(nl - (char *)b.data) + 1);
		}
	}
	if (b.len) {
		const char *rest = buf_cstr(&b);
		tail_push(t, rest);
		if (on_line)
			on_line(rest, ud);
	}
	buf_free(&b);
}

int proc_run(const char *const argv[], const char *const env[], proc_line_fn on_line, void *ud,
	     struct thaw_err **err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_sys(err, "pipe");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	_cleanup_free_ char **envp = merged_env(env);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		errno = rc;
		return err_sys(err, "starting %s", argv[0]);
	}
	struct tail t = { 0 };
	read_lines(p[0], &t, on_line, ud);
	close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	_cleanup_buf_ struct buf out = { 0 };
	tail_format(&t, &out);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return err_set(err, ERR_INTERNAL, "%s exited with status %d: %s", argv[0],
			       WEXITSTATUS(status), buf_cstr(&out));
	return err_set(err, ERR_INTERNAL, "%s killed by signal %d: %s", argv[0],
		       WTERMSIG(status), buf_cstr(&out));
}
