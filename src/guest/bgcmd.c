/* Background commands (proto.h, thaw:bg-*): started by one exec, they
 * outlive it. A keeper process, in its own session, starts the command
 * in its own process group with its output in files, waits for it and
 * records how it ended; the agent (PID 1) reaps the keeper. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

static int mkdirs(const char *path)
{
	char tmp[256];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0755);
			*p = '/';
		}
	}
	return mkdir(tmp, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static void write_file(const char *path, const char *text)
{
	char tmp[320];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, text, strlen(text)) < 0 || close(fd) < 0)
		return;
	rename(tmp, path); /* readers see all of it or nothing */
}

/* The command itself: its own process group, output to files. */
static void exec_command(char **argv, const char *dir)
{
	setpgid(0, 0);
	char out[300], err[300];
	snprintf(out, sizeof(out), "%s/stdout", dir);
	snprintf(err, sizeof(err), "%s/stderr", dir);
	int in = open("/dev/null", O_RDONLY);
	int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in < 0 || o < 0 || e < 0)
		_exit(126);
	child_stdio(in, o, e);
	/* Its files are open: the command itself runs as the user asked. */
	if (builtin_user && user_become(builtin_user) < 0) {
		fprintf(stderr, "thaw: cannot become user %s: %s\n", builtin_user->name,
			strerror(errno));
		_exit(126);
	}
	/* The agent's own environment is PID 1's (nearly empty); the host
	 * passes the command's through /usr/bin/env when it has one. */
	setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 0);
	setenv("HOME", "/root", 0);
	setenv("LANG", "C.UTF-8", 0);
	/* The user's own, over the agent's (an env the request gives still
	 * wins: /usr/bin/env applies it after). */
	if (builtin_user) {
		setenv("HOME", builtin_user->home, 1);
		setenv("USER", builtin_user->name, 1);
		setenv("LOGNAME", builtin_user->name, 1);
	}
	execvp(argv[0], argv);
	fprintf(stderr, "thaw: %s: %s\n", argv[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

static int start(char **argv)
{
	int report[2];
	if (mkdirs(BG_DIR) < 0 || pipe(report) < 0)
		return errno;
	pid_t keeper = fork();
	if (keeper < 0)
		return errno;
	if (keeper == 0) {
		close(report[0]);
		setsid();
		int ready[2];
		if (pipe(ready) < 0)
			_exit(1);
		pid_t cmd = fork();
		if (cmd < 0)
			_exit(1);
		char dir[256];
		if (cmd == 0) {
			close(ready[1]);
			char go;
			snprintf(dir, sizeof(dir), "%s/%d", BG_DIR, (int)getpid());
			if (read(ready[0], &go, 1) != 1) /* the directory exists */
				_exit(126);
			exec_command(argv, dir);
		}
		snprintf(dir, sizeof(dir), "%s/%d", BG_DIR, (int)cmd);
		mkdirs(dir);
		close(ready[0]);
		if (write(ready[1], "g", 1) != 1 || write(report[1], &cmd, sizeof(cmd)) < 0)
			_exit(1);
		close(ready[1]);
		close(report[1]);
		for (int fd = 0; fd < 3; fd++) {
			int null = open("/dev/null", O_RDWR);
			dup2(null, fd);
		}
		int status;
		while (waitpid(cmd, &status, 0) < 0 && errno == EINTR)
			;
		char text[64], path[300];
		if (WIFEXITED(status))
			snprintf(text, sizeof(text), "exited %d\n", WEXITSTATUS(status));
		else
			snprintf(text, sizeof(text), "killed %d\n", WTERMSIG(status));
		snprintf(path, sizeof(path), "%s/exit", dir);
		write_file(path, text);
		_exit(0);
	}
	close(report[1]);
	pid_t cmd = 0;
	ssize_t n = read(report[0], &cmd, sizeof(cmd));
	close(report[0]);
	if (n != sizeof(cmd) || cmd <= 0) {
		fprintf(stderr, "the background command did not start\n");
		return EIO;
	}
	dprintf(1, "%d\n", (int)cmd);
	return 0;
}

static int parse_pid(const char *s, pid_t *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < 2 || v > 4194304)
		return -1;
	*out = (pid_t)v;
	return 0;
}

static int status(pid_t pid)
{
	char path[300], text[64];
	snprintf(path, sizeof(path), "%s/%d", BG_DIR, (int)pid);
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "no background command %d\n", (int)pid);
		return ENOENT;
	}
	snprintf(path, sizeof(path), "%s/%d/exit", BG_DIR, (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		dprintf(1, "running\n");
		return 0;
	}
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	dprintf(1, "%s", text);
	return 0;
}

static int kill_cmd(pid_t pid)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/%d", BG_DIR, (int)pid);
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "no background command %d\n", (int)pid);
		return ENOENT;
	}
	if (kill(-pid, SIGKILL) < 0 && errno != ESRCH) {
		fprintf(stderr, "kill %d: %s\n", (int)pid, strerror(errno));
		return errno;
	}
	return 0;
}

/* CMD... */
int builtin_bg_start(int argc, char **argv)
{
	(void)argc;
	return start(argv + 1);
}

/* PID */
int builtin_bg_status(int argc, char **argv)
{
	(void)argc;
	pid_t pid;
	if (parse_pid(argv[1], &pid) < 0) {
		fprintf(stderr, "bad background command request\n");
		return EINVAL;
	}
	return status(pid);
}

/* PID */
int builtin_bg_kill(int argc, char **argv)
{
	(void)argc;
	pid_t pid;
	if (parse_pid(argv[1], &pid) < 0) {
		fprintf(stderr, "bad background command request\n");
		return EINVAL;
	}
	return kill_cmd(pid);
}
