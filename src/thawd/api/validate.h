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
#define ENV_MAX_VARS 256 /* an env object: create's, run_code's, a context's */
#define SANDBOX_ENV_MAX_VARS ENV_MAX_VARS
#define SANDBOX_ENV_MAX_BYTES 32768

/* Fills everything but the owner (the request's key). */
int validate_create(json_t *body, int64_t default_timeout, int64_t max_timeout,
		    struct create_req *out, struct thaw_err **err);

struct exec_params {
	char **argv; /* NULL-terminated, owned */
	char **env;  /* "K=V", NULL-terminated, owned; base entries first */
	/* How many of env are defaults (the base environment, and the
	 * sandbox's once added) that the request's own entries override. */
	size_t env_base;
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

/* The sandbox's environment (an object of strings, sandbox_env_get)
 * under the request's own: base defaults, then the sandbox's, then the
 * request's env, each name once. ERR_INVALID when the frame grows too
 * large. */
int exec_params_add_sandbox_env(struct exec_params *p, json_t *sandbox_env, struct thaw_err **err);
/* The base environment with the sandbox's on top, for commands without a
 * request env (shells); free with exec_env_free. */
char **exec_env_default(json_t *sandbox_env);
void exec_env_free(char **env);

/* "env" of a create: an object of at most SANDBOX_ENV_MAX_VARS strings
 * with valid names, SANDBOX_ENV_MAX_BYTES in all; *out its JSON text
 * (NULL when absent). */
int validate_sandbox_env(json_t *env, char **out, struct thaw_err **err);
/* "network" (net/netpolicy.h): *out a new policy. */
struct netpolicy;
int validate_network(json_t *v, struct netpolicy **out, struct thaw_err **err);

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
/* A TCP port in a path (ports, tunnel, published routes): 1-65535 in
 * plain decimal digits; -1 otherwise. */
int port_from_text(const char *s);

/* validate_code.c: run_code and the code interpreter's contexts. The
 * strings and objects point into the body (borrowed). */
#define RUN_CODE_DEFAULT_TIMEOUT_S 60
#define RUN_CODE_MAX_TIMEOUT_S 3600
#define CONTEXT_ID_MAX 64

struct run_code_params {
	const char *code;
	const char *context; /* NULL: the default context */
	json_t *env;	     /* NULL or an object of strings */
	int timeout_s;
	bool auto_resume;
	bool stream;
};

int validate_run_code(json_t *body, struct run_code_params *p, struct thaw_err **err);

struct context_params {
	const char *cwd; /* NULL: the interpreter's default */
	json_t *env;
};

int validate_context_create(json_t *body, struct context_params *p, struct thaw_err **err);
/* 1-CONTEXT_ID_MAX characters of [A-Za-z0-9_-]. */
bool valid_context_id(const char *s);
/* NULL, null or an object of at most ENV_MAX_VARS valid names to strings
 * without NUL; `what` names it in the error. */
int validate_env_object(json_t *env, const char *what, struct thaw_err **err);

#endif
