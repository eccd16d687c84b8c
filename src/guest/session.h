/* One command: its process group, its pipes, its deadlines and its
 * recent output. Every command has one, in the process table
 * (proctab.c), from EXEC until some time after it ended: connections
 * only follow it. The server moves bytes; this file spawns, reaps and
 * reports. */
#ifndef THAW_GUEST_SESSION_H
#define THAW_GUEST_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "outring.h"
#include "proto.h"

/* How long pipes may stay open after the command exited (a background
 * child holding them). Output written later is not waited for. */
#define SESSION_DRAIN_NS (50ull * 1000000ull)

struct session {
	pid_t pid; /* also the process group id: commands run in their own session */
	int in_fd, out_fd, err_fd; /* our ends, -1 once closed */
	int pty_fd; /* a PTY command: the master (out_fd and in_fd are dups of it), else -1 */
	struct buf stdin_pending;
	bool stdin_eof; /* close in_fd once stdin_pending is written */
	uint64_t start_ns, deadline_ns, drain_deadline_ns; /* monotonic; 0 = none */
	bool exited, timed_out;
	int status; /* from waitpid */
	uint64_t end_ns;
	/* thaw-agent/3: the process table */
	char *tag;		 /* owned; NULL when none was given */
	char *cmd;		 /* owned: the command line, at most PROC_CMD_MAX bytes */
	bool pty;		 /* on a pseudo-terminal */
	bool kill_on_disconnect; /* killed when the connection that started it ends */
	bool finished;		 /* exited and drained: its fds are closed */
	bool blocked;		 /* a follower is behind: leave its pipes unread */
	bool builtin;		 /* a thaw:* built-in: not listed, gone once ended */
	uint64_t start_real_ns;	 /* CLOCK_REALTIME at start, for listings */
	struct outring out;	 /* recent output, for ATTACH */
};

/* The process table: every command, live or recently ended. */
struct proctab {
	struct session **v;
	size_t n, cap;
};

struct session *proctab_find(const struct proctab *t, pid_t pid);
/* Commands that have not finished. */
size_t proctab_live(const struct proctab *t);
void proctab_add(struct proctab *t, struct session *s);
/* Frees finished built-ins, and the oldest finished entries past
 * PROC_MAX_EXITED. */
void proctab_prune(struct proctab *t);

/* Starts the command described by an EXEC frame. On failure returns -1
 * and appends to out either an ERROR frame (bad request) or, when the
 * program could not be executed, OUTPUT+EXIT frames the way a shell
 * reports it (127 not found, 126 not executable). Returns 1 in that
 * second case, 0 when the session runs. */
int session_start(struct session *s, const struct proto_frame *exec, struct buf *out);

/* Appends the EXIT frame of an exited session (any number of times). */
void session_exit_frame(const struct session *s, struct buf *out);
/* The session is over: closes its fds; it stays for listings. */
void session_finish(struct session *s);
/* Releases everything (proctab_prune's). */
void session_free(struct session *s);
/* Appends its PROC frame (a listing entry). */
void session_proc_frame(const struct session *s, struct buf *out);

/* A PTY command's new terminal size (the kernel signals SIGWINCH). */
void session_resize(struct session *s, uint32_t rows, uint32_t cols);

/* Kills the whole process group. */
void session_kill(struct session *s);

/* Records an exit status reaped by the server for this session's pid. */
void session_exited(struct session *s, int status, uint64_t now);

/* Closes the pipe ends that still exist. */
void session_close_fds(struct session *s);

bool session_done(const struct session *s, uint64_t now);

#endif
