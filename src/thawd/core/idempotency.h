/* Idempotent creates (the Idempotency-Key header): a client that retries a
 * create after a timeout, or the fleet's control plane that resends one
 * after an instance died mid-create, gets the sandbox the first request
 * made, never a second one. Keys are per owner and remembered for a day
 * after their create finished; a create in flight under a key makes the
 * same key's other requests wait for its outcome. The key is also in the
 * sandbox's row, and a restart puts the keys of the sandboxes it adopts
 * back (idem_restore), so a retry after a thawd crash that came between
 * the create and its answer gets that sandbox too. (A create cut by a
 * crash leaves no sandbox: the restart removes it, so a retry then makes
 * the one sandbox.) */
#ifndef THAW_IDEMPOTENCY_H
#define THAW_IDEMPOTENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"

/* How long a finished key is remembered, and how many keys thawd keeps
 * (past that, the oldest finished go first). */
#define IDEM_TTL_S (24 * 3600)
#define IDEM_ENTRIES_MAX 100000

struct idem_table;

/* max_entries bounds the table: past it, the oldest finished key goes. */
struct idem_table *idem_new(size_t max_entries);
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
/* At start: a key that made sandbox id age_s seconds ago (a key already
 * known, or one past IDEM_TTL_S, is left alone). */
void idem_restore(struct idem_table *t, const char *owner, const char *key, const char *id,
		  int64_t age_s);
/* Keys remembered, in flight or finished. */
size_t idem_count(struct idem_table *t);

#endif
