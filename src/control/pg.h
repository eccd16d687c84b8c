/* PostgreSQL through libpq: a small pool of connections shared by the
 * request threads (one thread uses a connection at a time), each
 * connection reset once when the server dropped it (a restart), and one
 * error convention: SQLSTATE classes mapped to thaw's codes, the
 * server's message kept. The control plane's durable state is all here. */
#ifndef THAW_CONTROL_PG_H
#define THAW_CONTROL_PG_H

#include <libpq-fe.h>

#include "err.h"

struct pg;

/* Connects conns connections to url (a libpq URI or key=value string).
 * ERR_UNAVAILABLE when the server cannot be reached. */
int pg_open(const char *url, unsigned conns, struct pg **out, struct thaw_err **err);
void pg_close(struct pg *p);

/* Runs one statement with text parameters (NULL: SQL NULL). *res, when
 * res is not NULL, is the result (PQclear it); it is set only on
 * success. A connection the server dropped is reset and the statement
 * tried once more. Errors: ERR_UNAVAILABLE (no server), ERR_CONFLICT (a
 * unique or exclusion violation, a serialization failure), ERR_INVALID
 * (a check constraint or bad value), ERR_INTERNAL (the rest). */
int pg_exec(struct pg *p, const char *sql, int nparams, const char *const *params,
	    PGresult **res, struct thaw_err **err);

/* Runs fn in one transaction on one connection (pg_conn_exec), after
 * taking the advisory lock lock_key (0: none) for the transaction's
 * length, so that instances doing the same thing take turns; fn failing
 * rolls it back. */
struct pg_conn;
typedef int (*pg_tx_fn)(struct pg_conn *c, void *ctx, struct thaw_err **err);
int pg_transaction(struct pg *p, long long lock_key, pg_tx_fn fn, void *ctx,
		   struct thaw_err **err);
int pg_conn_exec(struct pg_conn *c, const char *sql, int nparams, const char *const *params,
		 PGresult **res, struct thaw_err **err);

#endif
