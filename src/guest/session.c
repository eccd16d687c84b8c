#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "timeutil.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct exec_req {
	char **argv;
	size_t argc;
	char **envp;
	size_t envc;
	char *cwd;
	uint32_t timeout_ms;
	bool has_stdin;
	bool pty;
	uint32_t rows, cols;
	char *tag;
	char *user;
	bool kill_on_disconnect;
	struct guest_user who; /* when user is set */
	char **user_envp;      /* envp with the user's HOME, USER, LOGNAME */
};

static void strv_push(char ***v, size_t *n, char *s)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(char *));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void exec_req_free(struct exec_req *r)
{
	strv_free(r->argv);
	strv_free(r->envp);
	strv_free(r->user_envp);
	free(r->cwd);
	free(r->tag);
	free(r->user);
}

static const char *exec_req_parse_v3(const struct proto_tlv *t, struct exec_req *r)
{
	uint8_t flag = 0;
	switch (t->tag) {
	case T_TAG:
		if (r->tag || t->len == 0 || t->len > PROC_TAG_MAX || proto_tlv_str(t, &r->tag) < 0)
			return "malformed tag";
		break;
	case T_USER:
		if (r->user || proto_tlv_str(t, &r->user) < 0)
			return "malformed user";
		break;
	case T_KILL_ON_DISCONNECT:
		if (proto_tlv_u8(t, &flag) < 0)
			return "malformed kill_on_disconnect flag";
		r->kill_on_disconnect = flag != 0;
		break;
	default:
		break; /* unknown fields are skipped: newer hosts may add some */
	}
	return NULL;
}

static const char *exec_req_parse(const struct proto_frame *f, struct exec_req *r)
{
	struct proto_tlv_iter it;
	struct proto_tlv t;
	int rc;
	proto_tlv_init(&it, f);
	while ((rc = proto_tlv_next(&it, &t)) > 0) {
		char *s = NULL;
		uint8_t flag = 0;
		switch (t.tag) {
		case T_ARG:
		case T_ENV:
			if (proto_tlv_str(&t, &s) < 0)
				return "argument or environment string holds a NUL byte";
			if (t.tag == T_ARG && r->argc < PROTO_MAX_ARGS)
				strv_push(&r->argv, &r->argc, s);
			else if (t.tag == T_ENV && r->envc < PROTO_MAX_ENV && strchr(s, '='))
				strv_push(&r->envp, &r->envc, s);
			else {
				free(s);
				return "too many arguments or a malformed environment entry";
			}
			break;
		case T_CWD:
			if (r->cwd || proto_tlv_str(&t, &r->cwd) < 0)
				return "malformed cwd";
			break;
		case T_TIMEOUT_MS:
			if (proto_tlv_u32(&t, &r->timeout_ms) < 0)
				return "malformed timeout";
			break;
		case T_HAS_STDIN:
			if (proto_tlv_u8(&t, &flag) < 0)
				return "malformed stdin flag";
			r->has_stdin = flag != 0;
			break;
		case T_PTY:
			if (proto_tlv_u8(&t, &flag) < 0)
				return "malformed pty flag";
			r->pty = flag != 0;
			break;
		case T_ROWS:
		case T_COLS:
			if (proto_tlv_u32(&t, t.tag == T_ROWS ? &r->rows : &r->cols) < 0)
				return "malformed terminal size";
			break;
		default: {
			const char *bad = exec_req_parse_v3(&t, r);
			if (bad)
				return bad;
		}
		}
	}
	if (rc < 0)
		return "malformed EXEC payload";
	if (r->argc == 0 || r->argv[0][0] == '\0')
		return "EXEC without a command";
	return NULL;
}

static const char *env_path(char **envp)
{
	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			return envp[i] + 5;
	return DEFAULT_PATH;
}

/* PATH lookup against the command's own environment (posix_spawnp
 * would use the agent's). Returns a new string. */
static char *resolve_program(const char *name, char **envp)
{
	if (strchr(name, '/'))
		return xstrdup(name);
	const char *path = env_path(envp);
	char *found = NULL;
	while (*path && !found) {
		const char *colon = strchrnul(path, ':');
		char *cand = xasprintf("%.*s/%s", (int)(colon - path), path, name);
		if (access(cand, X_OK) == 0)
			found = cand;
		else
			free(cand);
		path = *colon ? colon + 1 : colon;
	}
	return found;
}

static void emit_error(struct buf *out, const char *msg)
{
	size_t start = proto_begin(out, MSG_ERROR, 0);
	proto_put_str(out, T_MESSAGE, msg);
	proto_end(out, start);
}

/* A program that cannot run is reported like a shell does it, so that
 * `thaw exec ID -- nosuchcmd` behaves like typing it. */
static void emit_exec_failure(struct buf *out, const char *name, int err)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "thaw: %s: %s\n", name,
			 err == ENOENT ? "command not found" : strerror(err));
	proto_put_raw_frame(out, MSG_OUTPUT, STREAM_STDERR, line, (size_t)n);
	size_t start = proto_begin(out, MSG_EXIT, 0);
	proto_put_i32(out, T_EXIT_CODE, err == ENOENT ? 127 : 126);
	proto_put_i32(out, T_SIGNAL, 0);
	proto_put_u8(out, T_TIMED_OUT, 0);
	proto_put_u64(out, T_DURATION_US, 0);
	proto_end(out, start);
}

/* The command's environment: the request's or the agent's default,
 * with the user's HOME, USER and LOGNAME when it runs as one. */
static char **command_env(struct exec_req *r, char **fallback)
{
	if (!r->user)
		return r->envp ? r->envp : fallback;
	/* The agent's default says HOME=/root: only a request's own HOME
	 * stands over the user's. */
	if (!r->user_envp)
		r->user_envp = user_env(r->envp ? r->envp : fallback, &r->who, !r->envp);
	return r->user_envp;
}

/* In a forked child: the user, then the directory (the user's home by
 * default). Exits with 126 when either fails. */
static void child_identity(const struct exec_req *r)
{
	if (r->user && user_become(&r->who) < 0) {
		dprintf(2, "thaw: cannot become user %s: %s\n", r->user, strerror(errno));
		_exit(126);
	}
	/* Like login(1): a home that does not exist means "/". */
	if (!r->cwd && r->user && chdir(r->who.home) < 0 && chdir("/") < 0)
		_exit(126);
	if (r->cwd && chdir(r->cwd) < 0) {
		dprintf(2, "thaw: cannot enter %s: %s\n", r->cwd, strerror(errno));
		_exit(126);
	}
}

static int make_pipe(int fds[2], int ours)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	return fcntl(fds[ours], F_SETFL, O_NONBLOCK);
}

static int spawn(struct session *s, const char *prog, struct exec_req *r)
{
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int rc = -1;
	if (make_pipe(in, 1) < 0 || make_pipe(outp, 0) < 0 || make_pipe(errp, 0) < 0) {
		rc = errno;
		goto out;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	if (r->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, r->cwd);
	posix_spawnattr_init(&attr);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
						POSIX_SPAWN_SETSIGDEF);
	char *default_env[] = { "PATH=" DEFAULT_PATH, "HOME=/root", "LANG=C.UTF-8", NULL };
	rc = posix_spawn(&s->pid, prog, &fa, &attr, r->argv, command_env(r, default_env));
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc == 0) {
		s->in_fd = in[1];
		s->out_fd = outp[0];
		s->err_fd = errp[0];
		in[1] = outp[0] = errp[0] = -1;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	return rc;
}

/* A built-in command, or a program run as another user, runs in a fork
 * of the agent (static, single-threaded: fork is safe) with the same
 * pipes, session and signals posix_spawn gives a program. prog NULL: the
 * built-in argv[0]. */
static int spawn_forked(struct session *s, const char *prog, struct exec_req *r)
{
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	if (make_pipe(in, 1) < 0 || make_pipe(outp, 0) < 0 || make_pipe(errp, 0) < 0) {
		int e = errno;
		int *all[] = { in, outp, errp };
		for (int k = 0; k < 3; k++)
			for (int i = 0; i < 2; i++)
				if (all[k][i] >= 0)
					close(all[k][i]);
		return e;
	}
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		child_stdio(in[0], outp[1], errp[1]);
		int fl = fcntl(0, F_GETFL);
		fcntl(0, F_SETFL, fl & ~O_NONBLOCK);
		if (!prog) {
			if (r->cwd && chdir(r->cwd) < 0)
				_exit(errno);
			if (r->user && !r->cwd && chdir(r->who.home) < 0 && chdir("/") < 0)
				_exit(errno);
			builtin_user = r->user ? &r->who : NULL;
			_exit(builtin_run((int)r->argc, r->argv));
		}
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		char *default_env[] = { "PATH=" DEFAULT_PATH, "HOME=/root", "LANG=C.UTF-8", NULL };
		child_identity(r);
		execve(prog, r->argv, command_env(r, default_env));
		dprintf(2, "thaw: %s: %s\n", r->argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	int e = pid < 0 ? errno : 0;
	close(in[0]);
	close(outp[1]);
	close(errp[1]);
	if (e) {
		close(in[1]);
		close(outp[0]);
		close(errp[0]);
		return e;
	}
	s->pid = pid;
	s->in_fd = in[1];
	s->out_fd = outp[0];
	s->err_fd = errp[0];
	return 0;
}

static void set_size(int fd, uint32_t rows, uint32_t cols)
{
	struct winsize ws = { .ws_row = (unsigned short)(rows ? rows : 24),
			      .ws_col = (unsigned short)(cols ? cols : 80) };
	ioctl(fd, TIOCSWINSZ, &ws);
}

/* A command on a new pseudo-terminal: its session leader, the slave as
 * its controlling terminal and stdio; we keep the master. ^C typed by
 * the user reaches it as SIGINT through the line discipline. */
static int spawn_pty(struct session *s, const char *prog, struct exec_req *r)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
		int e = errno;
		if (master >= 0)
			close(master);
		return e;
	}
	char name[64];
	if (ptsname_r(master, name, sizeof(name)) != 0) {
		close(master);
		return EIO;
	}
	set_size(master, r->rows, r->cols);
	char *default_env[] = { "PATH=" DEFAULT_PATH, "HOME=/root", "LANG=C.UTF-8",
				"TERM=xterm-256color", NULL };
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		int slave = open(name, O_RDWR);
		if (slave < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
			_exit(126);
		child_stdio(slave, slave, slave);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		child_identity(r);
		execve(prog, r->argv, command_env(r, default_env));
		_exit(errno == ENOENT ? 127 : 126);
	}
	if (pid < 0) {
		int e = errno;
		close(master);
		return e;
	}
	fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
	s->pid = pid;
	s->pty_fd = master;
	s->out_fd = master;
	s->in_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
	return 0;
}

void session_resize(struct session *s, uint32_t rows, uint32_t cols)
{
	if (s->pty_fd >= 0 && rows && cols && rows < 10000 && cols < 10000)
		set_size(s->pty_fd, rows, cols);
}

/* The command line for listings: argv joined by spaces, shortened. */
static char *command_line(const struct exec_req *r)
{
	struct buf b = { 0 };
	for (size_t i = 0; i < r->argc && b.len < PROC_CMD_MAX; i++) {
		if (i)
			buf_append(&b, " ", 1);
		buf_append_str(&b, r->argv[i]);
	}
	if (b.len > PROC_CMD_MAX)
		b.len = PROC_CMD_MAX;
	return buf_steal(&b, NULL);
}

static int spawn_any(struct session *s, struct exec_req *r)
{
	if (strncmp(r->argv[0], FILE_CMD_PREFIX, strlen(FILE_CMD_PREFIX)) == 0)
		return spawn_forked(s, NULL, r);
	char *prog = resolve_program(r->argv[0], r->envp);
	int rc = !prog	   ? ENOENT
		 : r->pty  ? spawn_pty(s, prog, r)
		 : r->user ? spawn_forked(s, prog, r)
			   : spawn(s, prog, r);
	free(prog);
	return rc;
}

static const char *exec_req_check(struct exec_req *r)
{
	struct stat st;
	if (r->cwd && (stat(r->cwd, &st) < 0 || !S_ISDIR(st.st_mode)))
		return "cwd is not an existing directory";
	const char *why = NULL;
	if (r->user && user_lookup(r->user, &r->who, &why) < 0)
		return why;
	return NULL;
}

int session_start(struct session *s, const struct proto_frame *exec, struct buf *out)
{
	struct exec_req r = { 0 };
	memset(s, 0, sizeof(*s));
	s->in_fd = s->out_fd = s->err_fd = s->pty_fd = -1;
	const char *problem = exec_req_parse(exec, &r);
	if (!problem)
		problem = exec_req_check(&r);
	if (problem) {
		emit_error(out, problem);
		exec_req_free(&r);
		return -1;
	}
	int rc = spawn_any(s, &r);
	if (rc != 0) {
		emit_exec_failure(out, r.argv[0], rc);
		exec_req_free(&r);
		return 1;
	}
	s->start_ns = time_mono_ns();
	s->start_real_ns = time_real_ns();
	if (r.timeout_ms)
		s->deadline_ns = s->start_ns + (uint64_t)r.timeout_ms * 1000000ull;
	/* A terminal's input stays open: only its master ends it. */
	if (!r.has_stdin && !r.pty) {
		s->stdin_eof = true;
		close(s->in_fd);
		s->in_fd = -1;
	}
	s->pty = r.pty;
	s->builtin = strncmp(r.argv[0], FILE_CMD_PREFIX, strlen(FILE_CMD_PREFIX)) == 0;
	/* A built-in works for the request that started it (a file read or
	 * write, a watch, a run_code relay): nobody re-attaches to it, and one
	 * left running would wait for stdin forever (an upload cut short must
	 * end unpublished, not at an EOF that would publish half a file). */
	s->kill_on_disconnect = r.kill_on_disconnect || s->builtin;
	s->tag = r.tag;
	r.tag = NULL;
	s->cmd = command_line(&r);
	outring_init(&s->out, PROC_OUTPUT_MAX);
	exec_req_free(&r);
	return 0;
}

void session_kill(struct session *s)
{
	if (s->pid > 0 && !s->exited)
		kill(-s->pid, SIGKILL);
}

void session_exited(struct session *s, int status, uint64_t now)
{
	s->exited = true;
	s->status = status;
	s->end_ns = now;
	s->drain_deadline_ns = now + SESSION_DRAIN_NS;
}

void session_close_fds(struct session *s)
{
	s->pty_fd = -1; /* it is out_fd, closed below */
	int *fds[] = { &s->in_fd, &s->out_fd, &s->err_fd };
	for (size_t i = 0; i < 3; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

bool session_done(const struct session *s, uint64_t now)
{
	if (!s->exited)
		return false;
	return (s->out_fd < 0 && s->err_fd < 0) || now >= s->drain_deadline_ns;
}

static void exit_status(const struct session *s, int *code, int *sig)
{
	*code = 0;
	*sig = 0;
	if (WIFEXITED(s->status))
		*code = WEXITSTATUS(s->status);
	else if (WIFSIGNALED(s->status)) {
		*sig = WTERMSIG(s->status);
		*code = 128 + *sig;
	}
}

void session_exit_frame(const struct session *s, struct buf *out)
{
	int code, sig;
	exit_status(s, &code, &sig);
	size_t start = proto_begin(out, MSG_EXIT, 0);
	proto_put_i32(out, T_EXIT_CODE, code);
	proto_put_i32(out, T_SIGNAL, sig);
	proto_put_u8(out, T_TIMED_OUT, s->timed_out);
	proto_put_u64(out, T_DURATION_US, (s->end_ns - s->start_ns) / 1000);
	proto_end(out, start);
}

void session_finish(struct session *s)
{
	session_close_fds(s);
	buf_free(&s->stdin_pending);
	s->stdin_eof = true;
	s->finished = true;
}

void session_free(struct session *s)
{
	session_close_fds(s);
	buf_free(&s->stdin_pending);
	outring_free(&s->out);
	free(s->tag);
	free(s->cmd);
	free(s);
}

void session_proc_frame(const struct session *s, struct buf *out)
{
	size_t start = proto_begin(out, MSG_PROC, 0);
	proto_put_u32(out, T_PID, (uint32_t)s->pid);
	if (s->tag)
		proto_put_str(out, T_TAG, s->tag);
	proto_put_str(out, T_CMD, s->cmd ? s->cmd : "");
	proto_put_u8(out, T_PTY, s->pty);
	proto_put_u8(out, T_RUNNING, !s->exited);
	proto_put_u64(out, T_START_NS, s->start_real_ns);
	proto_put_u64(out, T_BUFFERED, s->out.kept);
	proto_put_u64(out, T_DROPPED, s->out.dropped);
	proto_put_u8(out, T_STDIN_OPEN, s->in_fd >= 0 && !s->stdin_eof);
	if (s->exited) {
		int code, sig;
		exit_status(s, &code, &sig);
		proto_put_i32(out, T_EXIT_CODE, code);
		proto_put_i32(out, T_SIGNAL, sig);
		proto_put_u8(out, T_TIMED_OUT, s->timed_out);
		proto_put_u64(out, T_DURATION_US, (s->end_ns - s->start_ns) / 1000);
	}
	proto_end(out, start);
}
