/* The host side of the guest agent protocol (see common/proto.h): TCP
 * connections into a sandbox's network namespace, one operation at a
 * time each; a finished one may carry the next (agent_conn_idle). */
#ifndef THAW_GUEST_AGENT_H
#define THAW_GUEST_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "proto.h"

struct netslot;
struct agent_conn;

/* Says whether waiting for the guest still makes sense (its VMM runs). */
typedef bool (*agent_alive_fn)(void *ud);

/* How long one connection attempt waits for the guest's answer. A
 * restored guest answers a SYN within milliseconds; a booting guest drops
 * SYNs until its network is up, so waiting for it retries often. */
#define AGENT_ATTEMPT_RESTORED_MS 1000
#define AGENT_ATTEMPT_BOOTING_MS 50

/* Connects to the agent in the slot's namespace, retrying while the
 * guest is not listening yet, until timeout_ms, or until alive (when
 * given) says the VM is gone. */
int agent_connect(const struct netslot *slot, int timeout_ms, int attempt_ms, agent_alive_fn alive,
		  void *ud, struct agent_conn **out, struct thaw_err **err);
void agent_close(struct agent_conn *c);
/* Closes with a reset instead of a FIN: nothing of the connection stays
 * behind in the slot (no FIN sent again and again to a VM that is gone,
 * or to the slot's next guest). */
void agent_abort(struct agent_conn *c);
/* The socket, for shutdown(2) from another thread. */
int agent_conn_fd(const struct agent_conn *c);
/* Whether c may carry another request: its last one was answered in full
 * (no command still followed on it) and nothing is waiting to be read. */
bool agent_conn_idle(const struct agent_conn *c);
/* Marks a parked connection taken for a new request. */
void agent_conn_reuse(struct agent_conn *c);

struct agent_hello_reply {
	char version[64];
	uint64_t guest_clock_ns; /* guest CLOCK_REALTIME right after it set it */
};

/* Sends the host clock, fresh randomness and the hostname; the guest
 * applies them before it answers. fresh: the VM was just restored, and
 * the agent closes every other connection from the host (T_FRESH). */
int agent_hello(struct agent_conn *c, const char *hostname, bool fresh, int timeout_ms,
		struct agent_hello_reply *reply, struct thaw_err **err);

/* Asks the guest to flush its disks before a snapshot. */
int agent_prepare(struct agent_conn *c, int timeout_ms, struct thaw_err **err);

typedef void (*agent_output_fn)(int stream, const uint8_t *data, size_t len, void *ud);

struct agent_exec_req {
	const char *const *argv; /* NULL-terminated */
	const char *const *env;	 /* "K=V", NULL-terminated; NULL = guest default */
	const char *cwd;	 /* NULL = / */
	const uint8_t *stdin_data;
	size_t stdin_len;
	bool has_stdin;
	/* With has_stdin and stdin_from_fd, stdin comes from stdin_fd (read
	 * from its current offset to its end, a chunk at a time) instead of
	 * stdin_data. */
	bool stdin_from_fd;
	int stdin_fd;
	uint32_t timeout_ms;	   /* enforced in the guest; 0 = none */
	size_t max_output;	   /* per stream; more is dropped and flagged */
	agent_output_fn on_output; /* when set, output goes here, not to the buffers */
	void *ud;
	/* When set, told the command's pid once it runs (agents from
	 * thaw-agent/2 on; older ones never call it). */
	void (*on_start)(uint32_t pid, void *ud);
	/* Run on a pseudo-terminal of rows x cols (stdout and stderr merged). */
	bool pty;
	uint32_t rows, cols;
	/* Relay mode (interactive shells): instead of collecting output, the
	 * guest's frames go to relay_fd as they come, and the frames read from
	 * relay_fd (only STDIN and RESIZE are accepted) go to the guest, until
	 * the command exits or either side closes. relay_pre holds bytes the
	 * client sent already. The result then has only the exit status. */
	bool relay;
	int relay_fd;
	const uint8_t *relay_pre;
	size_t relay_pre_len;
	/* When set and it becomes true, the exec stops (ERR_UNAVAILABLE) and
	 * the connection is dropped; the command goes on in the guest's
	 * process table unless kill_on_disconnect. */
	const bool *cancel;
	/* thaw-agent/3 (older agents ignore these three) */
	const char *tag;	 /* a name for the process table; NULL: none */
	const char *user;	 /* a user of the guest's /etc/passwd; NULL: root */
	bool kill_on_disconnect; /* the guest kills it when this connection ends */
	/* With has_stdin: no EOF after stdin_data; the process table's
	 * stdin (agent_proc_stdin) closes it. */
	bool stdin_keep_open;
	/* Attach mode: instead of starting a command, follow process
	 * attach_pid of the table (its output from what is buffered when
	 * attach_from_start, else from now), until its exit or, when
	 * attach_wait_ms is not 0, that deadline (ERR_TIMEOUT). */
	uint32_t attach_pid;
	bool attach_from_start;
	uint32_t attach_wait_ms;
};

struct agent_exec_result {
	struct buf out, err; /* owned; agent_exec_result_free */
	bool out_truncated, err_truncated;
	int exit_code;
	int signal;
	bool timed_out;
	uint64_t duration_us;
};

/* Runs a command and waits for it. A refusal by the guest (bad cwd, bad
 * request) is ERR_INVALID with the guest's message. res is filled on
 * success (free it with agent_exec_result_free); on failure it holds
 * nothing, whatever output came before. */
int agent_exec(struct agent_conn *c, const struct agent_exec_req *req,
	       struct agent_exec_result *res, struct thaw_err **err);
void agent_exec_result_free(struct agent_exec_result *res);

/* The guest's process table (thaw-agent/3, agentproc.c). An older agent
 * drops the connection at these requests: that is ERR_CONFLICT, "bake
 * the template again". A pid not in the table is ERR_NOT_FOUND. */
struct agent_proc {
	uint32_t pid;
	char tag[PROC_TAG_MAX + 1]; /* "" when none */
	char *cmd;		    /* owned */
	bool pty, running, stdin_open, timed_out;
	int exit_code, signal; /* when !running */
	uint64_t start_ns;     /* guest CLOCK_REALTIME */
	uint64_t duration_us;  /* when !running */
	uint64_t buffered, dropped;
};

int agent_proc_list(struct agent_conn *c, int timeout_ms, struct agent_proc **out, size_t *n,
		    struct thaw_err **err);
void agent_procs_free(struct agent_proc *v, size_t n);
int agent_proc_signal(struct agent_conn *c, uint32_t pid, int signo, int timeout_ms,
		      struct thaw_err **err);
/* Queues data for its stdin (and closes it after them with eof). */
int agent_proc_stdin(struct agent_conn *c, uint32_t pid, const uint8_t *data, size_t len, bool eof,
		     int timeout_ms, struct thaw_err **err);
int agent_proc_resize(struct agent_conn *c, uint32_t pid, uint32_t rows, uint32_t cols,
		      int timeout_ms, struct thaw_err **err);

#endif
