/* A QMP client: line-delimited JSON over a unix socket. Commands may be
 * pipelined (sent before earlier answers arrive), which keeps QMP round
 * trips off the restore path. Events are kept (with QEMU's own
 * timestamps) so callers can wait for them or read when they happened. */
#ifndef THAW_QMP_H
#define THAW_QMP_H

#include <jansson.h>
#include <stdint.h>

#include "err.h"

struct qmp;

/* Connects, retrying while the socket does not exist yet, until
 * timeout_ms; reads the greeting. Does not negotiate capabilities. */
int qmp_connect(const char *path, int timeout_ms, struct qmp **out, struct thaw_err **err);
void qmp_close(struct qmp *q);
/* Wraps a connected socket whose greeting is still unread (qmp_connect
 * reads it; the fuzz harness feeds a VMM's side itself). */
struct qmp *qmp_from_fd(int fd);

/* Queues one command (args may be NULL; the reference is stolen). */
int qmp_send(struct qmp *q, const char *cmd, json_t *args, struct thaw_err **err);
/* Sends a command with an fd attached (SCM_RIGHTS), e.g. getfd. */
int qmp_send_with_fd(struct qmp *q, const char *cmd, json_t *args, int fd,
		     struct thaw_err **err);

/* Waits for the answer to the oldest unanswered command. An error answer
 * becomes an ERR_UNAVAILABLE error with QEMU's description. *ret (may be
 * NULL) receives a new reference to "return". */
int qmp_wait_return(struct qmp *q, int timeout_ms, json_t **ret, struct thaw_err **err);

/* Sends and waits. */
int qmp_call(struct qmp *q, const char *cmd, json_t *args, int timeout_ms, json_t **ret,
	     struct thaw_err **err);

/* Waits until an event named `name` (and, when status is not NULL, with
 * data.status equal to it) has arrived; returns its QEMU timestamp in
 * unix ns. A MIGRATION event with status "failed" always ends the wait
 * with an error. */
int qmp_wait_event(struct qmp *q, const char *name, const char *status, int timeout_ms,
		   uint64_t *when_ns, struct thaw_err **err);

#endif
