/* Request ids: the name one API call goes by in the X-Request-Id header
 * of its answer, in its error body and in every log line written while
 * it is served (log_set_request_id), in thawd and in thaw-control alike,
 * which forwards it to the host it relays to. */
#ifndef THAW_REQID_H
#define THAW_REQID_H

#include <stdbool.h>

#define REQID_HEADER "X-Request-Id"
/* The longest id a client may send: it lands in log lines as is. */
#define REQID_MAX 64
#define REQID_SIZE (REQID_MAX + 1)

/* A client's id is kept when it is 1..64 of [A-Za-z0-9._:-]: nothing a
 * log line or a header would need to quote. */
bool reqid_valid(const char *s);
/* A fresh id, "req_" and 16 lowercase hex digits: distinct within the
 * process (a counter through a bijective mix keyed by one random draw
 * at the first call), unguessable across processes, no syscall after the
 * first. */
void reqid_new(char out[REQID_SIZE]);
/* The request's id: the client's own when valid (NULL or invalid: a new
 * one; an invalid id is replaced, not refused). */
void reqid_take(const char *client, char out[REQID_SIZE]);

#endif
