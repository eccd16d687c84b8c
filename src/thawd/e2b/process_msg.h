/* envd's process.Process messages (protobuf's JSON mapping) to and from
 * what thaw's operations take: pure functions of JSON values and header
 * strings, unit-tested without a server (tests/unit/test_e2b_process.c).
 * Names follow the proto: lowerCamel fields, oneofs nested, bytes in
 * base64, the Signal enum by name or number. A field the proto does not
 * have is refused (invalid_argument), not ignored: what thaw would not
 * honour must not pass silently. */
#ifndef THAW_E2B_PROCESS_MSG_H
#define THAW_E2B_PROCESS_MSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/validate.h"
#include "buf.h"
#include "e2b/e2b.h"
#include "err.h"
#include "guestconn/agent.h"

/* Keepalive-Ping-Interval, seconds. */
#define E2B_KEEPALIVE_MAX_S 3600

/* A ProcessSelector {pid} or {tag}: *pid set (tag "") or tag copied. */
struct e2b_selector {
	uint32_t pid;
	char tag[PROC_TAG_MAX + 1];
};
int e2b_selector_parse(json_t *process, struct e2b_selector *out, struct thaw_err **err);

/* A request message {"process": selector} plus the fields in extra
 * (NULL-terminated; each may be absent): the selector parsed, unknown
 * fields refused. */
int e2b_proc_request(json_t *msg, const char *const *extra, struct e2b_selector *out,
		     struct thaw_err **err);

/* StartRequest {process{cmd,args,envs,cwd}, pty{size{cols,rows}}, tag,
 * stdin} as an exec (api/validate.h) for user (NULL: root): no timeout
 * (an E2B command lasts until it exits or is signalled), kept when its
 * client goes away. *out: free with exec_params_free. */
int e2b_start_parse(json_t *msg, const char *user, struct exec_params *out, struct thaw_err **err);

/* SendInputRequest's input {stdin|pty: base64}: the bytes appended to
 * data (at most PROC_STDIN_MAX). */
int e2b_input_parse(json_t *input, struct buf *data, struct thaw_err **err);

/* Signal: "SIGNAL_SIGKILL" | "SIGNAL_SIGTERM" | 9 | 15. */
int e2b_signal_parse(json_t *v, int *signo, struct thaw_err **err);

/* UpdateRequest's pty {size{cols,rows}}: rows and cols, 1-9999. */
int e2b_pty_size_parse(json_t *pty, uint32_t *rows, uint32_t *cols, struct thaw_err **err);

/* protobuf JSON bytes: standard or URL-safe base64, padded or not. */
int e2b_bytes_decode(json_t *v, const char *what, size_t max, struct buf *out,
		     struct thaw_err **err);

/* Headers. */
/* Keepalive-Ping-Interval (seconds; NULL: 0, none). */
int e2b_keepalive_parse(const char *header, unsigned *seconds, struct thaw_err **err);
/* Connect-Timeout-Ms (NULL: 0, none). */
int e2b_timeout_parse(const char *header, uint64_t *ms, struct thaw_err **err);

/* Answers: ProcessEvent messages wrapped as StartResponse/ConnectResponse
 * {"event": ...}. New references. */
json_t *e2b_event_start(uint32_t pid);
/* kind: "stdout", "stderr" or "pty". */
json_t *e2b_event_data(const char *kind, const uint8_t *data, size_t len);
json_t *e2b_event_keepalive(void);
/* EndEvent as envd words it: exitCode and status "exit status N" for an
 * exit; exitCode -1, exited false, status "signal: killed" for a signal;
 * error says the same when it did not succeed. */
json_t *e2b_event_end(int exit_code, int signal);
/* ProcessInfo {config{cmd,args,envs,cwd}, pid, tag} from a table entry.
 * The table keeps the command line (argv joined by spaces), not argv:
 * the SDK's two shapes ("/bin/bash -l -c CMD", "/bin/bash -i -l") come
 * back exactly, any other line split at spaces; envs {} and no cwd (the
 * table has neither). */
json_t *e2b_process_info(const struct agent_proc *p);

#endif
