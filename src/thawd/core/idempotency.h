/* Idempotent creates (the Idempotency-Key header): a client that retries a
 * create after a timeout, or the fleet's control plane that resends one
 * after an instance died mid-create, gets the sandbox the first request
 * made, never a second one. Keys are per owner and remembered while
 * thawd runs, for a day; a create in flight under a key makes the same
 * key's other requests wait for its outcome. (A create cut by a thawd
 * crash leaves no sandbox: the restart removes it, so a retry after a
 * restart makes the one sandbox.) */
#ifndef THAW_IDEMPOTENCY_H
#define THAW_IDEMPOTENCY_H

#include <stdbool.h>

#include "ids.h"

struct idem_table;

struct idem_table *idem_new(void);
void idem_free(struct idem_table *t);

/* 1: the key made sandbox *id already; 0: the caller now holds the key
 * and must call idem_end; -1: another request under the key did not
 * finish within wait_ms. */
int idem_begin(struct idem_table *t, const char *owner, const char *key, int wait_ms,
	       char id[SANDBOX_ID_LEN + 1]);
/* The outcome of the caller's create: its sandbox, or NULL (failed: the
 * key is free again). */
void idem_end(struct idem_table *t, const char *owner, const char *key, const char *id);
/* The key's sandbox is gone: the next request under it creates again. */
void idem_forget(struct idem_table *t, const char *owner, const char *key);

#endif
