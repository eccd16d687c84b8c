/* libthaw: the C client of thawd's HTTP/JSON API.
 *
 * Conventions that hold for every function below:
 *
 * Errors. A function that can fail returns 0 on success and -1 on
 * failure, and takes `thaw_error **err` as its last argument. When err is
 * not NULL and *err is NULL, a failure stores a new error in *err that
 * the caller frees with thaw_error_free(); a success leaves *err alone.
 * Pass NULL to ignore the details.
 *
 * Ownership. Out-parameters are set only on success and then belong to
 * the caller, who frees them with the matching *_free function. Strings
 * passed in are copied when they must outlive the call; nothing the
 * caller passes is kept.
 *
 * Options. Option structs may gain fields in later versions. Initialise
 * them with `= {0}` and set what you need: a field left at 0 or NULL
 * always means "the default".
 *
 * Threads. A thaw_client is used from one thread at a time (it owns one
 * HTTP connection, reused for keep-alive); use one client per thread for
 * concurrency. Distinct clients, results and errors are independent and
 * may be used from any thread.
 *
 * Memory. Like the rest of thaw, libthaw aborts the process when an
 * allocation fails rather than reporting it. */
#ifndef THAW_H
#define THAW_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define THAW_API __attribute__((visibility("default")))

/* The address and key file used when nothing else is configured. */
#define THAW_DEFAULT_API_URL "http://127.0.0.1:7420"
#define THAW_DEFAULT_KEY_FILE "/var/lib/thaw/api-key"

/* ---- errors ------------------------------------------------------------ */

typedef struct thaw_error thaw_error;

/* The HTTP status of the response that reported the error, or 0 when no
 * error response was received: the server could not be reached, the
 * arguments were rejected before sending, or the error arrived inside a
 * streamed 200 response (a failed bake). Returns 0 for a NULL error. */
THAW_API int thaw_error_http_status(const thaw_error *e);

/* A short machine-readable code, never NULL, owned by e. Either the
 * server's code ("not_found", "invalid_request", "conflict",
 * "unauthorized", "forbidden" (the key's role may not), "limit_reached"
 * (a rate or sandbox cap), "too_large", "timeout", "unavailable", ...) or
 * one of libthaw's own:
 *   "transport"        the request did not complete (connection refused,
 *                      DNS failure, timeout, connection reset)
 *   "protocol"         the server's answer was not what the API promises
 *                      (bad JSON, missing field, unexpected status)
 *   "invalid_request"  also used, with status 0, for arguments libthaw
 *                      rejects before sending (and an unreadable
 *                      api_key_file)
 * Returns "" for a NULL error. */
THAW_API const char *thaw_error_code(const thaw_error *e);

/* A human-readable sentence without a trailing newline, owned by e.
 * Returns "" for a NULL error. */
THAW_API const char *thaw_error_message(const thaw_error *e);

/* The id the server gave the failed request (its X-Request-Id, named in
 * the error body), owned by e: quote it to an operator, who finds the
 * request's log lines by it. "" when the error came with none (a
 * transport error, a check before sending) and for a NULL error. */
THAW_API const char *thaw_error_request_id(const thaw_error *e);

/* Frees e; NULL is allowed. */
THAW_API void thaw_error_free(thaw_error *e);

/* ---- client ------------------------------------------------------------ */

typedef struct thaw_client thaw_client;

typedef struct thaw_client_options {
	/* Base URL of thawd. NULL: $THAW_API_URL, else THAW_DEFAULT_API_URL. */
	const char *api_url;
	/* Bearer key. NULL: read api_key_file if set, else $THAW_API_KEY,
	 * else THAW_DEFAULT_KEY_FILE (whitespace-trimmed). Finding no key is
	 * not an error: requests that need one then fail with 401. */
	const char *api_key;
	/* A file holding the key, used when api_key is NULL. Unlike the
	 * default file, a file named here must be readable and non-empty. */
	const char *api_key_file;
	/* Limit for a whole request in milliseconds; 0: none. Streamed
	 * bakes ignore it. Keep it above any exec timeout you ask for. */
	long timeout_ms;
	/* Limit for establishing a connection; 0: 10 seconds. */
	long connect_timeout_ms;
} thaw_client_options;

/* Creates a client. opts may be NULL (all defaults). No request is made:
 * an unreachable server shows up at the first call. Fails only on
 * invalid options (a key with control characters, an unreadable
 * api_key_file, an empty URL). Thread-safe. */
THAW_API int thaw_client_new(const thaw_client_options *opts, thaw_client **out, thaw_error **err);

/* Frees the client and closes its connection; NULL is allowed. */
THAW_API void thaw_client_free(thaw_client *client);

/* The base URL the client talks to (no trailing slash), owned by client. */
THAW_API const char *thaw_client_url(const thaw_client *client);

/* GET /healthz: succeeds when thawd answers {"status":"ok"}. Needs no key. */
THAW_API int thaw_health(thaw_client *client, thaw_error **err);

/* GET /v1/info: the host's facts (VMM and version, accelerator and why,
 * disk mode, sandbox counts) as a compact JSON object text in *out, which
 * the caller frees with free(). */
THAW_API int thaw_info(thaw_client *client, char **out, thaw_error **err);

/* ---- sandboxes --------------------------------------------------------- */

/* A sandbox as the server described it. Plain data owned by the caller;
 * every string is NUL-terminated and separately allocated. */
typedef struct thaw_sandbox {
	char *id;	     /* "sb-" and 12 characters */
	char *template_name; /* the template it was created from */
	char *build_id;	     /* the template build; NULL if not reported */
	/* "creating", "running", "failed", "deleting", "pausing", "paused",
	 * "resuming", "recovering" */
	char *state;
	char *created_at;      /* RFC 3339; NULL if not reported */
	char *timeout_at;      /* RFC 3339; NULL: no deadline */
	char *metadata_json;   /* the metadata object as compact JSON; "{}" if none */
	char *timings_json;    /* the "timings_ms" object as compact JSON; NULL if none */
	char *reason;	       /* why the sandbox is in its state; NULL if not given */
	char *parent;	       /* the sandbox it was forked from; NULL if none */
	char *paused_at;       /* RFC 3339 while paused; NULL otherwise */
	bool pause_on_timeout; /* its timeout pauses it instead of deleting it */
	bool auto_resume;      /* an exec while paused resumes it */
	char *json;	       /* the whole object as compact JSON, fields the
				* struct does not name included */
	char *owner; /* the API key that created it (forks: the forking key); NULL if not
		      * reported */
} thaw_sandbox;

/* A sandbox's egress policy (docs/api.md, "Network policy"): a packet
 * its guest sends is accepted when an allow entry matches, else dropped
 * when a deny entry matches, else accepted unless no_internet. Entries
 * are IPv4 "CIDR[:port]" ("10.1.0.0/16", "1.2.3.4:443"); the server
 * checks them. The host-wide rules apply underneath. A zeroed struct is
 * the default policy (internet, no lists). */
typedef struct thaw_network_policy {
	bool no_internet;
	const char *const *allow; /* NULL-terminated; NULL: none */
	const char *const *deny;  /* NULL-terminated; NULL: none */
} thaw_network_policy;

typedef struct thaw_create_options {
	/* Template name; NULL: the server's default template. */
	const char *template_name;
	/* Seconds until the server deletes the sandbox. Because 0 is the
	 * default of a zeroed struct, use THAW_TIMEOUT_NONE for "never" and
	 * THAW_TIMEOUT_DEFAULT (or 0) for the server's default. */
	int timeout_s;
	/* A JSON object as text stored with the sandbox; NULL: none. */
	const char *metadata_json;
	/* Boot the template's kernel and disk instead of restoring its
	 * snapshot (seconds instead of milliseconds): a baseline for
	 * benchmarks and a second path for differential tests. */
	bool cold_boot;
	/* Build the network slot and start the VMM for this create even when
	 * thawd's warm pools have them ready: what the pools save, measured. */
	bool no_pools;
	/* When the timeout passes, pause the sandbox (scale to zero, resume
	 * later) instead of deleting it. */
	bool pause_on_timeout;
	/* An exec on the paused sandbox resumes it first instead of failing. */
	bool auto_resume;
	/* CPU time the sandbox may use, in cores (at most its template's
	 * vCPUs); 0: all of its vCPUs. */
	double cpus;
	/* Its egress policy; NULL: the default. */
	const thaw_network_policy *network;
	/* "KEY=VALUE" strings, NULL-terminated: the environment of every
	 * command in the sandbox (a command's own env wins); NULL: none. */
	const char *const *env;
} thaw_create_options;

#define THAW_TIMEOUT_DEFAULT 0
#define THAW_TIMEOUT_NONE (-1)

/* POST /v1/sandboxes: creates and starts a sandbox. opts may be NULL. On
 * success *out is the new sandbox (free with thaw_sandbox_free). */
THAW_API int thaw_sandbox_create(thaw_client *client, const thaw_create_options *opts,
				 thaw_sandbox **out, thaw_error **err);

/* GET /v1/sandboxes/{id}. A missing sandbox fails with code "not_found". */
THAW_API int thaw_sandbox_get(thaw_client *client, const char *id, thaw_sandbox **out,
			      thaw_error **err);

/* GET /v1/sandboxes. On success *out is an array of *n sandboxes (possibly
 * 0; *out is then NULL), freed with thaw_sandbox_list_free. */
THAW_API int thaw_sandbox_list(thaw_client *client, thaw_sandbox ***out, size_t *n,
			       thaw_error **err);

typedef struct thaw_list_options {
	const char *state;	   /* "running", "paused", ...; NULL: any */
	const char *template_name; /* NULL: any */
	const char *owner;	   /* an API key name (admin keys; a user key only its own) */
	/* "KEY=VALUE" metadata filters, NULL-terminated, all of which must
	 * match; NULL: none. */
	const char *const *metadata;
} thaw_list_options;

/* GET /v1/sandboxes?filters: the sandboxes that match opts (NULL: all), in
 * the server's order (creation time, then id), every page followed. *out
 * as from thaw_sandbox_list. */
THAW_API int thaw_sandbox_list_where(thaw_client *client, const thaw_list_options *opts,
				     thaw_sandbox ***out, size_t *n, thaw_error **err);

/* DELETE /v1/sandboxes/{id}: stops the VM and removes its files. */
THAW_API int thaw_sandbox_delete(thaw_client *client, const char *id, thaw_error **err);

/* Frees one sandbox; NULL is allowed. */
THAW_API void thaw_sandbox_free(thaw_sandbox *sb);

/* Frees a list from thaw_sandbox_list and its n sandboxes; NULL is allowed. */
THAW_API void thaw_sandbox_list_free(thaw_sandbox **list, size_t n);

/* One sample of a sandbox's usage (GET /v1/sandboxes/{id}/metrics). */
typedef struct thaw_metrics_point {
	long long t;	     /* unix seconds */
	double cpu_used_pct; /* 0..100 of its vCPUs over the interval before t */
	int cpu_count;
	unsigned long long mem_used_bytes, mem_total_bytes;
	unsigned long long disk_used_bytes, disk_total_bytes;
	unsigned long long net_rx_bytes, net_tx_bytes; /* since the sandbox started */
} thaw_metrics_point;

/* A sandbox's usage history, oldest point first; owned by the caller. */
typedef struct thaw_metrics {
	int interval_s; /* between samples */
	int window_s;	/* how far back the server keeps them */
	thaw_metrics_point *points;
	size_t n;
} thaw_metrics;

/* Which part of the history (zeroed: all of it). */
typedef struct thaw_metrics_options {
	long long start; /* unix seconds; 0: from the oldest point */
	long long end;	 /* unix seconds; 0: to the newest */
} thaw_metrics_options;

/* GET /v1/sandboxes/{id}/metrics: the usage samples thawd kept (the last
 * hour at 5 s by default; none while paused). opts may be NULL. On
 * success *out is freed with thaw_metrics_free. Thread-safe as any call
 * on one client (not concurrently on the same client). */
THAW_API int thaw_sandbox_metrics(thaw_client *client, const char *id,
				  const thaw_metrics_options *opts, thaw_metrics **out,
				  thaw_error **err);
/* NULL is allowed. */
THAW_API void thaw_metrics_free(thaw_metrics *m);

/* ---- exec -------------------------------------------------------------- */

typedef struct thaw_exec_options {
	/* The command: exactly one of argv (NULL-terminated, argv[0] is the
	 * program, looked up in PATH) and shell (run with /bin/sh -c). */
	const char *const *argv;
	const char *shell;
	/* "KEY=VALUE" strings added to the base environment, NULL-terminated;
	 * NULL: none. */
	const char *const *env;
	/* Absolute working directory; NULL: the guest's default. */
	const char *cwd;
	/* Bytes fed to the command's stdin when has_stdin is set (stdin_len
	 * may be 0: an empty, closed stdin). Without has_stdin the command
	 * gets no input. */
	const void *stdin_data;
	size_t stdin_len;
	bool has_stdin;
	/* Seconds before the command is killed; 0: the server's default. */
	int timeout_s;
	/* Resume the sandbox first if it is paused (otherwise a paused
	 * sandbox fails with code "conflict"). */
	bool auto_resume;
	/* Run as this user of the guest (its /etc/passwd); NULL: root. */
	const char *user;
	/* A name for the sandbox's process table; NULL: none. */
	const char *tag;
	/* Kill the command when this client goes away (a stopped stream);
	 * otherwise it runs on in the process table. */
	bool kill_on_disconnect;
} thaw_exec_options;

/* What a command did. Output is byte-exact (libthaw asks for base64 and
 * decodes it). Each data buffer is allocated even when empty and has a
 * NUL after its last byte, so text can be used as a C string; binary
 * output may contain NULs, so trust the lengths. */
typedef struct thaw_exec_result {
	int exit_code;	    /* 128 + signal when killed by a signal */
	int signal;	    /* the killing signal, 0 if none */
	bool timed_out;	    /* killed because timeout_s passed */
	double duration_ms; /* from start to exit, measured in the guest */
	char *stdout_data;
	size_t stdout_len;
	char *stderr_data;
	size_t stderr_len;
	bool stdout_truncated; /* the server kept only the first part */
	bool stderr_truncated;
} thaw_exec_result;

/* POST /v1/sandboxes/{id}/exec: runs a command to completion and returns
 * its exit status and output. A command that fails or times out is still
 * a success of this call: look at the result. */
THAW_API int thaw_sandbox_exec(thaw_client *client, const char *id, const thaw_exec_options *opts,
			       thaw_exec_result **out, thaw_error **err);

/* Frees a result; NULL is allowed. */
THAW_API void thaw_exec_result_free(thaw_exec_result *res);

/* Receives a command's output as it is produced: stream is 1 for stdout,
 * 2 for stderr; data holds len bytes (exact, possibly binary). Returning
 * non-zero stops the exec: the connection is closed, and the guest kills
 * the command when the exec asked for kill_on_disconnect (otherwise it
 * runs on in the sandbox's process table). */
typedef int (*thaw_output_fn)(int stream, const char *data, size_t len, void *userdata);

/* Like thaw_sandbox_exec, but the output goes to on_output while the
 * command runs (nothing is buffered); *out then carries the exit status
 * with empty stdout/stderr. No client timeout applies: the command's own
 * timeout_s does. Stopped by on_output: fails with code "cancelled". */
THAW_API int thaw_sandbox_exec_stream(thaw_client *client, const char *id,
				      const thaw_exec_options *opts, thaw_output_fn on_output,
				      void *userdata, thaw_exec_result **out, thaw_error **err);

/* ---- code interpreter --------------------------------------------------- */

/* POST /v1/sandboxes/{id}/run_code options. */
typedef struct thaw_run_code_options {
	const char *code; /* Python source */
	/* A context of the interpreter (POST .../contexts); NULL: "default". */
	const char *context;
	/* "KEY=VALUE" strings for this cell only, NULL-terminated; may be NULL. */
	const char *const *env;
	int timeout_s; /* 0: the server's default */
	bool auto_resume;
} thaw_run_code_options;

/* One display result of a cell (the value of its last expression, a
 * matplotlib figure, display(obj)). Each format is NULL when absent;
 * png, jpeg and pdf are base64; json is the JSON value as text. Valid
 * only during the callback. */
typedef struct thaw_code_result {
	bool is_main_result;
	const char *text, *html, *markdown, *svg, *png, *jpeg, *pdf, *latex, *javascript, *json;
} thaw_code_result;

/* Called as the cell runs: on_output for printed text (stream 1 stdout,
 * 2 stderr), on_result for each result. Non-zero from either stops
 * waiting (the cell runs on in the sandbox). Either may be NULL. */
typedef struct thaw_code_handlers {
	int (*on_output)(int stream, const char *text, size_t len, void *userdata);
	int (*on_result)(const thaw_code_result *result, void *userdata);
	void *userdata;
} thaw_code_handlers;

/* How the cell ended: error_name is NULL when the code raised nothing. */
typedef struct thaw_code_execution {
	char *error_name, *error_value, *error_traceback;
	size_t n_results;
	double duration_ms;
} thaw_code_execution;

/* Runs a cell in the sandbox's code interpreter, streamed to handlers.
 * An exception in the code is a success of this call (see *out); a
 * sandbox without an interpreter fails with "conflict". */
THAW_API int thaw_sandbox_run_code(thaw_client *client, const char *id,
				   const thaw_run_code_options *opts,
				   const thaw_code_handlers *handlers, thaw_code_execution **out,
				   thaw_error **err);
THAW_API void thaw_code_execution_free(thaw_code_execution *ex);
/* Decodes a base64 result field (png, jpeg, pdf): *out (free()) holds
 * *out_len bytes. -1 when in is not base64. */
THAW_API int thaw_base64_decode(const char *in, void **out, size_t *out_len);

/* ---- the process table -------------------------------------------------- */

/* A command the sandbox ran lately (GET /v1/sandboxes/{id}/processes):
 * every exec's command has one, from its start until some time after it
 * ended, whatever happened to the request that started it. */
typedef struct thaw_process {
	unsigned pid;	  /* in the guest */
	char *tag;	  /* the exec's tag; NULL when none */
	char *cmd;	  /* its command line, shortened */
	char *started_at; /* RFC 3339, the guest's clock */
	bool running;
	bool pty;
	int exit_code; /* once ended; 128 + signal when killed */
	int signal;    /* the killing signal, 0 if none */
	char *json;    /* the server's object as compact JSON */
} thaw_process;

/* The table. On success *out is an array of *n, freed with
 * thaw_process_list_free. */
THAW_API int thaw_process_list(thaw_client *client, const char *id, thaw_process ***out, size_t *n,
			       thaw_error **err);
THAW_API void thaw_process_list_free(thaw_process **list, size_t n);

/* Follows process pid's output (GET .../processes/{pid}/stream): what
 * the guest kept of it first when from_start, then what comes, to
 * on_output as thaw_sandbox_exec_stream does, until it exits (*out: its
 * status, freed with thaw_exec_result_free). Stopping (on_output returns
 * non-zero: code "cancelled") leaves the process running. */
THAW_API int thaw_process_attach(thaw_client *client, const char *id, unsigned pid,
				 bool from_start, thaw_output_fn on_output, void *userdata,
				 thaw_exec_result **out, thaw_error **err);

/* ---- lifecycle ---------------------------------------------------------- */

/* The most children one fork makes. */
#define THAW_FORK_MAX 16

/* POST /v1/sandboxes/{id}/fork: count (1 to THAW_FORK_MAX) copies of a
 * running sandbox, memory and disk as they are now, each with its own
 * id, network, clock and entropy. All or nothing. On success *out is an
 * array of *n children, freed with thaw_sandbox_list_free. */
THAW_API int thaw_sandbox_fork(thaw_client *client, const char *id, int count, thaw_sandbox ***out,
			       size_t *n, thaw_error **err);

/* POST /v1/sandboxes/{id}/pause: saves the sandbox (memory, disk,
 * devices) and ends its VM; it keeps its id and costs only disk. Pausing
 * a paused sandbox does nothing. out may be NULL; otherwise *out is the
 * sandbox as it is now (free with thaw_sandbox_free). */
THAW_API int thaw_sandbox_pause(thaw_client *client, const char *id, thaw_sandbox **out,
				thaw_error **err);

/* POST /v1/sandboxes/{id}/resume: restores a paused sandbox where it
 * stopped (the clock is set right). Resuming a running one does nothing.
 * out as for thaw_sandbox_pause. */
THAW_API int thaw_sandbox_resume(thaw_client *client, const char *id, thaw_sandbox **out,
				 thaw_error **err);

/* POST /v1/sandboxes/{id}/recover (issue 17): a failed sandbox whose
 * template can recover (postgres) and whose disk was kept is booted on
 * that disk again and answers running; THAW_ERR_CONFLICT otherwise.
 * out as for thaw_sandbox_pause. */
THAW_API int thaw_sandbox_recover(thaw_client *client, const char *id, thaw_sandbox **out,
				  thaw_error **err);

/* POST /v1/sandboxes/{id}/snapshot: a new template named template_name
 * from the running sandbox as it is now (processes included); the
 * sandbox goes on running. build_id may be NULL; otherwise *build_id is
 * the new template's build (free()). A name in use fails with
 * "conflict". */
THAW_API int thaw_sandbox_snapshot(thaw_client *client, const char *id, const char *template_name,
				   char **build_id, thaw_error **err);

/* POST /v1/sandboxes/{id}/keepalive: the sandbox's timeout starts again
 * at timeout_s seconds from now (0: never). out as for thaw_sandbox_pause. */
THAW_API int thaw_sandbox_keepalive(thaw_client *client, const char *id, int timeout_s,
				    thaw_sandbox **out, thaw_error **err);

/* PATCH /v1/sandboxes/{id}: replaces the egress policy of a running or
 * paused sandbox (p NULL: the default). out as for thaw_sandbox_pause. */
THAW_API int thaw_sandbox_set_network(thaw_client *client, const char *id,
				      const thaw_network_policy *p, thaw_sandbox **out,
				      thaw_error **err);

/* ---- tunnel ------------------------------------------------------------ */

/* GET /v1/sandboxes/{id}/tunnel/{port}: a TCP connection to port inside
 * the sandbox, through thawd (an upgraded HTTP connection carrying raw
 * bytes both ways; nothing of the service's bytes is consumed). *fd is
 * a connected socket, the caller's to close. A paused sandbox is resumed
 * first when auto_resume is true or the sandbox was created with it;
 * else an error with HTTP status 409. Nothing listening: 502. Delete and
 * pause end the connection; reconnect after a resume. */
THAW_API int thaw_sandbox_tunnel(thaw_client *client, const char *id, int port, bool auto_resume,
				 int *fd, thaw_error **err);

/* ---- interactive shell ------------------------------------------------- */

/* An interactive command on a pseudo-terminal in a sandbox, over an
 * upgraded HTTP connection. Poll thaw_shell_fd for input, then call
 * thaw_shell_pump. Not thread-safe. */
typedef struct thaw_shell thaw_shell;

/* Starts cmd (a shell string; NULL: a login shell) on a rows x cols
 * terminal. */
THAW_API int thaw_shell_open(thaw_client *client, const char *id, const char *cmd, int rows,
			     int cols, thaw_shell **out, thaw_error **err);
THAW_API int thaw_shell_fd(const thaw_shell *sh);
/* Keystrokes (^C is byte 3 and reaches the command as SIGINT). */
THAW_API int thaw_shell_write(thaw_shell *sh, const void *data, size_t len, thaw_error **err);
THAW_API int thaw_shell_resize(thaw_shell *sh, int rows, int cols, thaw_error **err);
/* Handles what arrived: output to on_output (stream 1). Returns 1 while
 * the command runs, 0 once it ended (*exit_code set), -1 on error. */
THAW_API int thaw_shell_pump(thaw_shell *sh, thaw_output_fn on_output, void *userdata,
			     int *exit_code, thaw_error **err);
/* Closes the connection (a command still running is killed). */
THAW_API void thaw_shell_close(thaw_shell *sh);

/* ---- files ------------------------------------------------------------- */

/* A file or directory inside a sandbox. */
typedef struct thaw_file_info {
	char *name; /* the last path component */
	char *type; /* "file", "dir", "symlink", "other" */
	unsigned long long size;
	unsigned mode; /* permission bits, e.g. 0644 */
	unsigned uid, gid;
	double mtime;	   /* seconds since the epoch */
	char *link_target; /* symlinks; NULL otherwise */
	char *json;	   /* the server's object as compact JSON */
	char *path;	   /* absolute; NULL when the server sent none */
	char *owner, *group; /* names in the guest's /etc/passwd and /etc/group; NULL if none */
} thaw_file_info;

THAW_API void thaw_file_info_free(thaw_file_info *fi);
THAW_API void thaw_file_info_list_free(thaw_file_info **list, size_t n);

/* GET .../files: the file's bytes go to on_data (stream 1) as they
 * arrive; on_data returning non-zero stops the transfer ("cancelled"). */
THAW_API int thaw_file_read(thaw_client *client, const char *id, const char *path,
			    thaw_output_fn on_data, void *userdata, thaw_error **err);

typedef struct thaw_file_write_options {
	int mode;     /* permission bits; -1: the existing file's, or 0644 */
	long uid;     /* -1: the existing file's, or 0 */
	long gid;     /* -1: the existing file's, or 0 */
	bool parents; /* create missing directories */
} thaw_file_write_options;

/* PUT .../files: replaces path with what fd holds from its offset to its
 * end (size bytes, or -1 when unknown: a pipe), atomically. opts may be
 * NULL (all defaults). out may be NULL. */
THAW_API int thaw_file_write_fd(thaw_client *client, const char *id, const char *path, int fd,
				long long size, const thaw_file_write_options *opts,
				thaw_file_info **out, thaw_error **err);

THAW_API int thaw_file_stat(thaw_client *client, const char *id, const char *path,
			    thaw_file_info **out, thaw_error **err);
/* The entries of a directory, sorted by name. */
THAW_API int thaw_file_list(thaw_client *client, const char *id, const char *path,
			    thaw_file_info ***out, size_t *n, thaw_error **err);
/* The tree below a directory, depth levels deep (1: thaw_file_list; up
 * to 10), sorted by path; name is each entry's last component, path its
 * absolute path. Symlinks are listed, never followed. */
THAW_API int thaw_file_list_depth(thaw_client *client, const char *id, const char *path, int depth,
				  thaw_file_info ***out, size_t *n, thaw_error **err);
/* POST .../files/move: renames from to to (rename(2) in the guest); an
 * existing to is replaced only with overwrite (else "conflict"), and a
 * move across file systems is a "conflict" (nothing moved). out (may be
 * NULL): what to is now. */
THAW_API int thaw_file_move(thaw_client *client, const char *id, const char *from, const char *to,
			    bool overwrite, thaw_file_info **out, thaw_error **err);
THAW_API int thaw_file_remove(thaw_client *client, const char *id, const char *path, bool recursive,
			      thaw_error **err);
/* mode -1: 0755. out may be NULL. */
THAW_API int thaw_file_mkdir(thaw_client *client, const char *id, const char *path, int mode,
			     bool parents, thaw_file_info **out, thaw_error **err);

/* ---- templates --------------------------------------------------------- */

/* A template as the server described it; plain data owned by the caller.
 * Fields after status are filled only for a ready template. */
typedef struct thaw_template {
	char *name;
	char *status;	  /* "ready", "baking", "corrupt" */
	char *build_id;	  /* NULL if not reported */
	char *created_at; /* RFC 3339; NULL if not reported */
	int memory_mb;	  /* 0 if not reported */
	int vcpus;	  /* 0 if not reported */
	double boot_ms;	  /* cold boot time while baking; 0 if not reported */
	char *detail;	  /* why it is not ready, or the bake stage; NULL if none */
	/* "bake", or "snapshot:<sandbox id>" for a snapshot template; NULL if
	 * not reported */
	char *source;
	char *json;  /* the whole object as compact JSON */
	char *owner; /* the key a snapshot template is private to; NULL: shared */
	/* Where its files are: "local", "local+remote" (also in the object
	 * store), "remote" (streamed from it); NULL if not reported. */
	char *location;
	double cached_percent; /* remote: of its memory, in this host's cache; else -1 */
} thaw_template;

/* GET /v1/templates. On success *out is an array of *n templates
 * (possibly 0; *out is then NULL), freed with thaw_template_list_free. */
THAW_API int thaw_template_list(thaw_client *client, thaw_template ***out, size_t *n,
				thaw_error **err);

/* DELETE /v1/templates/{name}: removes the template and its files. A
 * template that sandboxes still use fails with "conflict". */
THAW_API int thaw_template_delete(thaw_client *client, const char *name, thaw_error **err);

/* Frees one template; NULL is allowed. */
THAW_API void thaw_template_free(thaw_template *t);

/* Frees a list from thaw_template_list and its n templates; NULL is allowed. */
THAW_API void thaw_template_list_free(thaw_template **list, size_t n);

/* ---- a fleet's hosts (thaw-control only) --------------------------------- */

/* A host as the control plane describes it; plain data owned by the caller. */
typedef struct thaw_host {
	char *name;
	char *state;	      /* "up", "down", "draining" */
	char *address;	      /* HOST:PORT; NULL if not reported */
	char *accel;	      /* "kvm" or "tcg"; NULL if not reported */
	char *cpu_model;      /* NULL if not reported */
	char *last_heartbeat; /* RFC 3339; NULL if not reported */
	int memory_mb, vcpus, max_sandboxes; /* capacity; 0 if not reported */
	int sandboxes;			     /* running there at its last heartbeat */
	int templates;			     /* templates it holds */
	char *json;			     /* the whole object as compact JSON */
} thaw_host;

/* GET /v1/hosts (admin keys, on thaw-control). *out is an array of *n
 * hosts (possibly 0: NULL), freed with thaw_host_list_free. */
THAW_API int thaw_host_list(thaw_client *client, thaw_host ***out, size_t *n, thaw_error **err);
/* POST /v1/hosts/{name}/drain: no new sandboxes on it. */
THAW_API int thaw_host_drain(thaw_client *client, const char *name, thaw_error **err);
/* DELETE /v1/hosts/{name}: a host that is down and holds no running or
 * paused sandbox leaves the fleet. */
THAW_API int thaw_host_remove(thaw_client *client, const char *name, thaw_error **err);
THAW_API void thaw_host_free(thaw_host *h);
THAW_API void thaw_host_list_free(thaw_host **list, size_t n);

/* One progress event of a bake. The strings are owned by libthaw and
 * valid only during the callback. */
typedef struct thaw_bake_progress {
	const char *stage;   /* "recipe", "rootfs", "boot", "snapshot", ... */
	int step;	     /* 1-based */
	int steps;	     /* total steps */
	const char *message; /* human-readable */
} thaw_bake_progress;

/* Called as each progress event arrives, in the calling thread, before
 * thaw_template_bake returns. It must not use the same client. */
typedef void (*thaw_bake_progress_fn)(const thaw_bake_progress *ev, void *userdata);

typedef struct thaw_bake_options {
	thaw_bake_progress_fn on_progress; /* NULL: progress is not reported */
	void *userdata;			   /* passed to on_progress */
} thaw_bake_options;

typedef struct thaw_bake_result {
	thaw_template *template_info; /* the baked template */
	double elapsed_ms;	      /* as measured by the server */
} thaw_bake_result;

/* POST /v1/templates: bakes template `name` from its recipe and streams
 * progress while it runs (about a minute; no overall timeout applies).
 * Succeeds only when the server reports the bake done; a failed bake
 * fails with the server's code and http status 0. opts may be NULL. out
 * may be NULL; otherwise *out is freed with thaw_bake_result_free. If the
 * connection drops, the bake itself goes on in the server. */
THAW_API int thaw_template_bake(thaw_client *client, const char *name,
				const thaw_bake_options *opts, thaw_bake_result **out,
				thaw_error **err);

/* Frees a bake result; NULL is allowed. */
THAW_API void thaw_bake_result_free(thaw_bake_result *res);

#ifdef __cplusplus
}
#endif

#endif
