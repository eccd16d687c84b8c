/* Request bodies, decoded and checked field by field. Pure functions of
 * a JSON value: unit-tested without a server. */
#ifndef THAW_VALIDATE_H
#define THAW_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "ops/requests.h"

#define DEFAULT_TEMPLATE "code-interpreter"
#define METADATA_MAX_BYTES 16384
#define EXEC_DEFAULT_TIMEOUT_S 60
#define EXEC_MAX_TIMEOUT_S 86400
#define EXEC_MAX_ARGS 4096

/* Fills everything but the owner (the request's key). */
int validate_create(json_t *body, int64_t default_timeout, int64_t max_timeout,
		    struct create_req *out, struct thaw_err **err);

struct exec_params {
	char **argv; /* NULL-terminated, owned */
	char **env;  /* "K=V", NULL-terminated, owned; base entries first */
	char *cwd;
	struct buf stdin_data;
	bool has_stdin;
	uint32_t timeout_ms;
	bool base64_output;
	bool auto_resume;
	bool stream;	 /* answer with NDJSON events as the output comes */
	bool background; /* start it, answer with its pid; it outlives the request */
	/* The process table (validate_proc.c) */
	char *tag;		 /* owned; NULL: none */
	char *user;		 /* owned; NULL: root */
	bool kill_on_disconnect; /* a client that goes away ends the command */
	bool stdin_open;	 /* stdin stays open for POST .../processes/{pid}/stdin */
	bool pty;		 /* on a pseudo-terminal of rows x cols */
	uint32_t rows, cols;
};

int validate_exec(json_t *body, struct exec_params *out, struct thaw_err **err);
void exec_params_free(struct exec_params *p);

/* validate_proc.c: exec's process table fields (called by validate_exec),
 * and the bodies of the /processes/{pid} routes. */
#define PROC_STDIN_MAX (512u * 1024u)
#define PROC_WAIT_DEFAULT_S 30
#define PROC_WAIT_MAX_S 3600
#define EXEC_PROCESS_FIELDS \
	"tag", "user", "kill_on_disconnect", "stdin_open", "pty", "rows", "cols"
int validate_exec_process(json_t *body, struct exec_params *p, struct thaw_err **err);
/* {"signal": "TERM" | "SIGTERM" | 15} */
int validate_signal(json_t *body, int *signo, struct thaw_err **err);
struct proc_stdin_params {
	struct buf data; /* owned */
	bool eof;
};
/* {"data": text | "data_b64": base64, "eof": bool} */
int validate_proc_stdin(json_t *body, struct proc_stdin_params *p, struct thaw_err **err);
/* {"rows": R, "cols": C} */
int validate_resize(json_t *body, uint32_t *rows, uint32_t *cols, struct thaw_err **err);
/* {"timeout_s": S} or {}: how long to wait (default PROC_WAIT_DEFAULT_S) */
int validate_wait(json_t *body, uint32_t *wait_ms, struct thaw_err **err);

struct bake_params {
	char name[64];
};

int validate_bake(json_t *body, struct bake_params *out, struct thaw_err **err);

/* POST /v1/debug/failpoint (failpoint.h) */
struct failpoint_params {
	char name[32];
	char action[16];
};

int validate_failpoint(json_t *body, struct failpoint_params *out, struct thaw_err **err);

#define FORK_MAX_COUNT 16

struct fork_params {
	size_t count; /* 1..FORK_MAX_COUNT, default 1 */
};

int validate_fork(json_t *body, struct fork_params *out, struct thaw_err **err);

struct snapshot_params {
	char name[64]; /* the new template */
};

int validate_snapshot(json_t *body, struct snapshot_params *out, struct thaw_err **err);

/* {"timeout_s": N}, 0 <= N <= max_timeout (0: no timeout). */
int validate_keepalive(json_t *body, int64_t max_timeout, int64_t *timeout_s,
		       struct thaw_err **err);

/* {} (pause, resume): no fields. */
int validate_empty(json_t *body, struct thaw_err **err);

/* Environment variable names: [A-Za-z_][A-Za-z0-9_]*, at most 255. */
bool valid_env_name(const char *s);

#endif
