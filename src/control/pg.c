#include "control/pg.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "log.h"

struct pg_conn {
	PGconn *c;
	bool busy;
};

struct pg {
	char *url;
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct pg_conn *conns;
	unsigned n;
};

static int connect_one(const char *url, PGconn **out, struct thaw_err **err)
{
	PGconn *c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK) {
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
		msg[strcspn(msg, "\n")] = '\0';
		PQfinish(c);
		return err_set(err, ERR_UNAVAILABLE, "cannot reach the database: %s", msg);
	}
	/* Quiet: NOTICEs of IF NOT EXISTS are not news. */
	PGresult *r = PQexec(c, "SET client_min_messages = warning");
	PQclear(r);
	*out = c;
	return 0;
}

int pg_open(const char *url, unsigned conns, struct pg **out, struct thaw_err **err)
{
	struct pg *p = xcalloc(1, sizeof(*p));
	p->url = xstrdup(url);
	p->n = conns ? conns : 1;
	p->conns = xcalloc(p->n, sizeof(*p->conns));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	for (unsigned i = 0; i < p->n; i++)
		if (connect_one(url, &p->conns[i].c, err) < 0) {
			pg_close(p);
			return -1;
		}
	*out = p;
	return 0;
}

void pg_close(struct pg *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->n; i++)
		if (p->conns[i].c)
			PQfinish(p->conns[i].c);
	free(p->conns);
	free(p->url);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->freed);
	free(p);
}

static struct pg_conn *take(struct pg *p)
{
	pthread_mutex_lock(&p->lock);
	for (;;) {
		for (unsigned i = 0; i < p->n; i++)
			if (!p->conns[i].busy) {
				p->conns[i].busy = true;
				pthread_mutex_unlock(&p->lock);
				return &p->conns[i];
			}
		pthread_cond_wait(&p->freed, &p->lock);
	}
}

static void give(struct pg *p, struct pg_conn *c)
{
	pthread_mutex_lock(&p->lock);
	c->busy = false;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

/* SQLSTATE classes: 23 integrity (23505 unique, 23P01 exclusion: a
 * conflict; 23514 check: invalid), 40 transaction rollback (40001
 * serialization: a conflict to retry), 08 connection, 57P 'operator
 * intervention' (the server shutting down). */
static int result_err(PGresult *r, PGconn *c, struct thaw_err **err)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	char msg[320];
	snprintf(msg, sizeof(msg), "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
	msg[strcspn(msg, "\n")] = '\0';
	enum err_code code = ERR_INTERNAL;
	if (!state || !strncmp(state, "08", 2) || !strncmp(state, "57P", 3))
		code = ERR_UNAVAILABLE;
	else if (!strcmp(state, "23505") || !strcmp(state, "23P01") || !strcmp(state, "40001"))
		code = ERR_CONFLICT;
	else if (!strncmp(state, "23", 2) || !strncmp(state, "22", 2))
		code = ERR_INVALID;
	return err_set(err, code, "database: %s", msg[0] ? msg : "no answer");
}

static int run(PGconn *c, const char *sql, int nparams, const char *const *params,
	       PGresult **out)
{
	PGresult *r = nparams ? PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0)
			      : PQexec(c, sql);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	*out = r;
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
}

int pg_conn_exec(struct pg_conn *c, const char *sql, int nparams, const char *const *params,
		 PGresult **res, struct thaw_err **err)
{
	PGresult *r = NULL;
	if (run(c->c, sql, nparams, params, &r) < 0) {
		int rc = result_err(r, c->c, err);
		PQclear(r);
		return rc;
	}
	if (res)
		*res = r;
	else
		PQclear(r);
	return 0;
}

int pg_exec(struct pg *p, const char *sql, int nparams, const char *const *params,
	    PGresult **res, struct thaw_err **err)
{
	struct pg_conn *c = take(p);
	PGresult *r = NULL;
	int rc = run(c->c, sql, nparams, params, &r);
	if (rc < 0 && PQstatus(c->c) != CONNECTION_OK) {
		/* The server went away (a restart, a failover): once more on
		 * a new connection. A statement is all or nothing, so running
		 * it again cannot apply it twice unless the first one committed
		 * and only its answer was lost; the statements here are
		 * idempotent for that reason. */
		PQclear(r);
		r = NULL;
		PQreset(c->c);
		log_warn("control.db_reconnect", "ok=%d", PQstatus(c->c) == CONNECTION_OK);
		if (PQstatus(c->c) == CONNECTION_OK) {
			PGresult *q = PQexec(c->c, "SET client_min_messages = warning");
			PQclear(q);
		}
		rc = run(c->c, sql, nparams, params, &r);
	}
	if (rc < 0)
		rc = result_err(r, c->c, err);
	give(p, c);
	if (rc < 0 || !res)
		PQclear(r);
	else
		*res = r;
	return rc;
}

int pg_transaction(struct pg *p, long long lock_key, pg_tx_fn fn, void *ctx,
		   struct thaw_err **err)
{
	struct pg_conn *c = take(p);
	char lock[96];
	snprintf(lock, sizeof(lock), "BEGIN; SELECT pg_advisory_xact_lock(%lld)", lock_key);
	const char *begin = lock_key ? lock : "BEGIN";
	/* A connection the server dropped (a restart) shows only when used:
	 * nothing is done yet at BEGIN, so it is reset and BEGIN tried again. */
	PGresult *r = NULL;
	int rc = run(c->c, begin, 0, NULL, &r);
	if (rc < 0 && PQstatus(c->c) != CONNECTION_OK) {
		PQclear(r);
		r = NULL;
		PQreset(c->c);
		log_warn("control.db_reconnect", "ok=%d", PQstatus(c->c) == CONNECTION_OK);
		rc = run(c->c, begin, 0, NULL, &r);
	}
	if (rc < 0)
		rc = result_err(r, c->c, err);
	PQclear(r);
	if (rc == 0)
		rc = fn(c, ctx, err);
	if (rc == 0)
		rc = pg_conn_exec(c, "COMMIT", 0, NULL, NULL, err);
	if (rc < 0) {
		PGresult *rb = PQexec(c->c, "ROLLBACK");
		PQclear(rb);
	}
	give(p, c);
	return rc;
}
