#include "control/sandboxes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "log.h"

/* A create takes seconds; a placement this old belongs to an instance
 * that died mid-create. */
#define PLACEMENT_TTL_S 300

struct place_ctx {
	const char *owner, *tmpl, *idem;
	unsigned max;
	const struct place_hint *hint; /* NULL: none */
	struct placement *out;
};

/* How much a host is wanted by the hint: the near host first (or last,
 * to spread), any other in between. */
static int hint_rank(const struct place_hint *hint, const char *name)
{
	if (!hint || !hint->near || strcmp(hint->near, name) != 0)
		return 1;
	return hint->spread ? 0 : 2;
}

static int place_tx(struct pg_conn *c, void *arg, struct thaw_err **err)
{
	struct place_ctx *x = arg;
	const char *own[] = { x->owner };
	PGresult *r = NULL;
	if (pg_conn_exec(c, "SELECT pg_advisory_xact_lock(hashtext('owner:' || $1))", 1, own,
			 NULL, err) < 0)
		return -1;
	if (x->idem) {
		const char *q[] = { x->owner, x->idem };
		if (pg_conn_exec(c,
				 "SELECT p.token, p.host, h.address FROM placements p JOIN hosts h "
				 "ON h.name = p.host WHERE p.owner = $1 AND p.idem = $2",
				 2, q, &r, err) < 0)
			return -1;
		bool again = PQntuples(r) == 1;
		if (again) {
			snprintf(x->out->token, sizeof(x->out->token), "%s", PQgetvalue(r, 0, 0));
			snprintf(x->out->host, sizeof(x->out->host), "%s", PQgetvalue(r, 0, 1));
			snprintf(x->out->address, sizeof(x->out->address), "%s", PQgetvalue(r, 0, 2));
		}
		PQclear(r);
		if (again)
			return 0;
		/* A create with this key that finished since the caller looked:
		 * its placement became the sandbox's row in one statement
		 * (sandbox_placed), so when the placement is gone the row is
		 * visible to this later statement. Placing again would make a
		 * second sandbox for the key on another host. */
		if (pg_conn_exec(c,
				 "SELECT id FROM sandboxes WHERE owner = $1 AND idem = $2 AND "
				 "state <> 'lost'",
				 2, q, &r, err) < 0)
			return -1;
		if (PQntuples(r) == 1)
			snprintf(x->out->made, sizeof(x->out->made), "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
		if (x->out->made[0])
			return 0;
	}
	if (x->max) {
		if (pg_conn_exec(c,
				 "SELECT (SELECT count(*) FROM sandboxes WHERE owner = $1 AND "
				 "state <> 'lost') + (SELECT count(*) FROM placements WHERE owner = $1)",
				 1, own, &r, err) < 0)
			return -1;
		long long n = atoll(PQgetvalue(r, 0, 0));
		PQclear(r);
		if (n >= (long long)x->max)
			return err_set(err, ERR_LIMIT, "key %s has %lld of its %u sandboxes", x->owner,
				       n, x->max);
	}
	/* Three hosts with room, picked at random (not all of them: two
	 * instances placing at once then rarely pick the same full host). */
	/* A hinted host is always among them when it has room (a fork's
	 * parent's host: first; or, to spread, so that it is the last
	 * resort and not left out). */
	/* Host names are [a-z0-9-]: a text[] literal needs no quoting. */
	_cleanup_buf_ struct buf excl = { 0 };
	buf_append_str(&excl, "{");
	for (size_t i = 0; x->hint && i < x->hint->nexclude; i++)
		buf_printf(&excl, "%s%s", i ? "," : "", x->hint->exclude[i]);
	buf_append_str(&excl, "}");
	const char *tp[] = { x->tmpl, x->hint && x->hint->near ? x->hint->near : "",
			     buf_cstr(&excl) };
	if (pg_conn_exec(
		    c,
		    "SELECT name, address, room, cached FROM (SELECT h.name, h.address, "
		    "COALESCE((h.info->'capacity'->>'max_sandboxes')::bigint, 0) "
		    "- (SELECT count(*) FROM sandboxes s WHERE s.host = h.name AND s.state = 'running') "
		    "- (SELECT count(*) FROM placements p WHERE p.host = h.name) AS room, "
		    "h.templates ? $1 AS cached FROM hosts h WHERE h.state = 'up' "
		    "AND NOT (h.name = ANY ($3::text[]))) c "
		    "WHERE room > 0 ORDER BY name = $2 DESC, random() LIMIT 4",
		    3, tp, &r, err) < 0)
		return -1;
	int best = -1, best_rank = 0;
	long long best_room = 0;
	bool best_cached = false;
	for (int i = 0; i < PQntuples(r); i++) {
		int rank = hint_rank(x->hint, PQgetvalue(r, i, 0));
		long long room = atoll(PQgetvalue(r, i, 2));
		bool cached = PQgetvalue(r, i, 3)[0] == 't';
		if (!x->hint && i == 3)
			break; /* a create: three at random */
		if (best < 0 || rank > best_rank ||
		    (rank == best_rank &&
		     ((cached && !best_cached) || (cached == best_cached && room > best_room)))) {
			best = i;
			best_rank = rank;
			best_room = room;
			best_cached = cached;
		}
	}
	if (best < 0) {
		PQclear(r);
		return err_set(err, ERR_UNAVAILABLE, "no host is up with room for a sandbox");
	}
	snprintf(x->out->host, sizeof(x->out->host), "%s", PQgetvalue(r, best, 0));
	snprintf(x->out->address, sizeof(x->out->address), "%s", PQgetvalue(r, best, 1));
	PQclear(r);
	unsigned char raw[16];
	random_bytes(raw, sizeof(raw));
	for (int i = 0; i < 16; i++)
		snprintf(x->out->token + 2 * i, 3, "%02x", raw[i]);
	const char *ins[] = { x->out->token, x->owner, x->out->host, x->idem };
	return pg_conn_exec(c,
			    "INSERT INTO placements (token, owner, host, idem) VALUES ($1, $2, $3, $4)",
			    4, ins, NULL, err);
}

int sandbox_place(struct pg *p, const char *owner, unsigned max, const char *tmpl,
		  const char *idem, const struct place_hint *hint, struct placement *out,
		  struct thaw_err **err)
{
	memset(out, 0, sizeof(*out));
	struct place_ctx x = {
		.owner = owner, .tmpl = tmpl, .idem = idem, .max = max, .hint = hint, .out = out
	};
	return pg_transaction(p, 0, place_tx, &x, err);
}

int sandbox_placed(struct pg *p, const struct placement *pl, const char *id, const char *owner,
		   const char *tmpl, const char *state, const char *idem, struct thaw_err **err)
{
	/* One statement, so one round trip and atomic without BEGIN/COMMIT
	 * (a create's every millisecond shows); safe to repeat after a
	 * dropped connection. Requests under one Idempotency-Key share a
	 * placement and get the same sandbox from its host, so each records
	 * the same row: the conflict has no target, because one naming only
	 * the id would let the (owner, idem) index of a row another request
	 * is inserting at the same moment raise a unique violation. */
	const char *q[] = { pl->token, id, owner, pl->host, tmpl, state, idem };
	PGresult *r = NULL;
	if (pg_exec(p,
		    "WITH placed AS (DELETE FROM placements WHERE token = $1) "
		    "INSERT INTO sandboxes (id, owner, host, template, state, idem) "
		    "VALUES ($2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id",
		    7, q, &r, err) < 0)
		return -1;
	bool inserted = PQntuples(r) == 1;
	PQclear(r);
	if (inserted)
		return 0;
	/* Nothing inserted: fine when the row is this sandbox's (a later
	 * statement sees what the conflict waited for); not when the key's
	 * row names another sandbox. */
	const char *k[] = { id };
	if (pg_exec(p, "SELECT 1 FROM sandboxes WHERE id = $1", 1, k, &r, err) < 0)
		return -1;
	bool there = PQntuples(r) == 1;
	PQclear(r);
	if (!there)
		return err_set(err, ERR_CONFLICT,
			       "the Idempotency-Key %s already names another sandbox than %s",
			       idem ? idem : "-", id);
	return 0;
}

int sandbox_by_idem(struct pg *p, const char *owner, const char *idem, char id[SANDBOX_ID_LEN + 1],
		    struct thaw_err **err)
{
	const char *q[] = { owner, idem };
	PGresult *r = NULL;
	if (pg_exec(p, "SELECT id FROM sandboxes WHERE owner = $1 AND idem = $2", 2, q, &r, err) <
	    0)
		return -1;
	int n = PQntuples(r);
	if (n == 1)
		snprintf(id, SANDBOX_ID_LEN + 1, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return n == 1 ? 1 : 0;
}

void sandbox_unplace(struct pg *p, const struct placement *pl)
{
	const char *q[] = { pl->token };
	_cleanup_err_ struct thaw_err *err = NULL;
	if (pg_exec(p, "DELETE FROM placements WHERE token = $1", 1, q, NULL, &err) < 0)
		log_warn("control.unplace_failed", "host=%s error=\"%s\"", pl->host, err_msg(err));
}

int sandbox_find(struct pg *p, const char *id, struct sandbox_route *out, struct thaw_err **err)
{
	memset(out, 0, sizeof(*out));
	const char *q[] = { id };
	PGresult *r = NULL;
	if (pg_exec(p,
		    "SELECT s.host, h.address, s.owner, s.state, COALESCE(s.reason, ''), h.state, "
		    "COALESCE(s.image, ''), s.template "
		    "FROM sandboxes s JOIN hosts h ON h.name = s.host WHERE s.id = $1",
		    1, q, &r, err) < 0)
		return -1;
	int n = PQntuples(r);
	if (n == 1) {
		snprintf(out->host, sizeof(out->host), "%s", PQgetvalue(r, 0, 0));
		snprintf(out->address, sizeof(out->address), "%s", PQgetvalue(r, 0, 1));
		snprintf(out->owner, sizeof(out->owner), "%s", PQgetvalue(r, 0, 2));
		snprintf(out->state, sizeof(out->state), "%s", PQgetvalue(r, 0, 3));
		snprintf(out->reason, sizeof(out->reason), "%s", PQgetvalue(r, 0, 4));
		snprintf(out->host_state, sizeof(out->host_state), "%s", PQgetvalue(r, 0, 5));
		snprintf(out->image, sizeof(out->image), "%s", PQgetvalue(r, 0, 6));
		snprintf(out->tmpl, sizeof(out->tmpl), "%s", PQgetvalue(r, 0, 7));
	}
	PQclear(r);
	return n == 1 ? 0 : err_set(err, ERR_NOT_FOUND, "sandbox %s does not exist", id);
}

int sandbox_set_state(struct pg *p, const char *id, const char *state, const char *image,
		      struct thaw_err **err)
{
	const char *q[] = { id, state, image };
	return pg_exec(p,
		       "UPDATE sandboxes SET state = $2, image = COALESCE($3, image), "
		       "updated_at = now() WHERE id = $1 AND state <> 'lost'",
		       3, q, NULL, err);
}

int sandbox_set_settings(struct pg *p, const char *id, const char *settings, struct thaw_err **err)
{
	const char *q[] = { id, settings };
	return pg_exec(
		p,
		"UPDATE sandboxes SET settings = COALESCE(settings, '{}'::jsonb) || $2::jsonb "
		"WHERE id = $1",
		2, q, NULL, err);
}

int sandbox_settings(struct pg *p, const char *id, json_t **out, struct thaw_err **err)
{
	const char *q[] = { id };
	PGresult *r = NULL;
	if (pg_exec(p, "SELECT COALESCE(settings, '{}'::jsonb)::text FROM sandboxes WHERE id = $1",
		    1, q, &r, err) < 0)
		return -1;
	json_t *v = PQntuples(r) == 1 ? json_loads(PQgetvalue(r, 0, 0), 0, NULL) : NULL;
	PQclear(r);
	*out = json_is_object(v) ? v : json_object();
	if (v && !json_is_object(v))
		json_decref(v);
	return 0;
}

struct moved_ctx {
	const struct placement *pl;
	const char *id, *state;
};

static int moved_tx(struct pg_conn *c, void *arg, struct thaw_err **err)
{
	struct moved_ctx *x = arg;
	const char *del[] = { x->pl->token };
	const char *up[] = { x->id, x->pl->host, x->state };
	if (pg_conn_exec(c, "DELETE FROM placements WHERE token = $1", 1, del, NULL, err) < 0)
		return -1;
	return pg_conn_exec(c,
			    "UPDATE sandboxes SET host = $2, state = $3, reason = NULL, "
			    "updated_at = now() WHERE id = $1",
			    3, up, NULL, err);
}

int sandbox_moved(struct pg *p, const struct placement *pl, const char *id, const char *state,
		  struct thaw_err **err)
{
	struct moved_ctx x = { pl, id, state };
	return pg_transaction(p, 0, moved_tx, &x, err);
}

int sandbox_move_back(struct pg *p, const char *id, const char *host, struct thaw_err **err)
{
	const char *q[] = { id, host };
	return pg_exec(p, "UPDATE sandboxes SET host = $2, updated_at = now() WHERE id = $1", 2, q,
		       NULL, err);
}

int sandboxes_elsewhere(struct pg *p, const char *name, json_t *reported, json_t **out,
			struct thaw_err **err)
{
	_cleanup_free_ char *ids = json_dumps(reported, JSON_COMPACT);
	const char *q[] = { name, ids };
	PGresult *r = NULL;
	/* Only where the other host is up: while a sandbox moves (adopted
	 * from a host that is down or draining), the new host has it before
	 * its row says so, and must keep it. */
	/* And those deleted while lost here (forgotten): gone for good. */
	if (pg_exec(p,
		    "SELECT s.id FROM sandboxes s JOIN hosts h ON h.name = s.host "
		    "WHERE s.host <> $1 AND h.state = 'up' AND s.id IN "
		    "(SELECT jsonb_array_elements_text($2::jsonb)) "
		    "UNION SELECT id FROM forgotten WHERE host = $1 AND id IN "
		    "(SELECT jsonb_array_elements_text($2::jsonb))",
		    2, q, &r, err) < 0)
		return -1;
	json_t *a = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(a, json_string(PQgetvalue(r, i, 0)));
	PQclear(r);
	*out = a;
	return 0;
}

int sandbox_forget(struct pg *p, const char *id, struct thaw_err **err)
{
	const char *q[] = { id };
	return pg_exec(p, "DELETE FROM sandboxes WHERE id = $1", 1, q, NULL, err);
}

int sandbox_forget_lost(struct pg *p, const char *id, const char *host, struct thaw_err **err)
{
	const char *q[] = { id, host };
	/* One statement: the row goes and the tombstone comes together. */
	return pg_exec(p,
		       "WITH gone AS (DELETE FROM sandboxes WHERE id = $1 RETURNING id) "
		       "INSERT INTO forgotten (id, host) SELECT id, $2 FROM gone "
		       "ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, at = now()",
		       2, q, NULL, err);
}

int sandbox_list(struct pg *p, const struct sandbox_list_query *q, json_t **out, int64_t *next_us,
		 char next_id[SANDBOX_ID_LEN + 1], struct thaw_err **err)
{
	char after[24], limit[16];
	snprintf(after, sizeof(after), "%lld", (long long)q->after_us);
	snprintf(limit, sizeof(limit), "%d", q->limit + 1); /* one more: is there a next page? */
	const char *v[] = { q->owner, q->state, q->template_name, q->after_id ? after : NULL,
			    q->after_id, limit };
	PGresult *r = NULL;
	/* extract(epoch) is numeric (exact) from PostgreSQL 14: the token's
	 * microseconds compare as the rows order. */
	if (pg_exec(p,
		    "SELECT id, owner, host, template, state, reason, "
		    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
		    "floor(extract(epoch FROM created_at) * 1000000)::bigint "
		    "FROM sandboxes WHERE ($1::text IS NULL OR owner = $1) "
		    "AND ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR template = $3) "
		    "AND ($4::bigint IS NULL OR "
		    "(floor(extract(epoch FROM created_at) * 1000000)::bigint, id) > ($4::bigint, $5)) "
		    "ORDER BY created_at, id LIMIT $6::int",
		    6, v, &r, err) < 0)
		return -1;
	json_t *a = json_array();
	int n = PQntuples(r), shown = n > q->limit ? q->limit : n;
	for (int i = 0; i < shown; i++) {
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", PQgetvalue(r, i, 0),
				      "owner", PQgetvalue(r, i, 1), "host", PQgetvalue(r, i, 2),
				      "template", PQgetvalue(r, i, 3), "state", PQgetvalue(r, i, 4),
				      "created_at", PQgetvalue(r, i, 6));
		if (!PQgetisnull(r, i, 5))
			json_object_set_new(o, "reason", json_string(PQgetvalue(r, i, 5)));
		json_array_append_new(a, o);
	}
	next_id[0] = '\0';
	if (n > shown) {
		*next_us = strtoll(PQgetvalue(r, shown - 1, 7), NULL, 10);
		snprintf(next_id, SANDBOX_ID_LEN + 1, "%s", PQgetvalue(r, shown - 1, 0));
	}
	PQclear(r);
	*out = a;
	return 0;
}

int sandboxes_sweep(struct pg *p, struct thaw_err **err)
{
	char ttl[16];
	snprintf(ttl, sizeof(ttl), "%d", PLACEMENT_TTL_S);
	const char *q[] = { ttl };
	PGresult *r = NULL;
	if (pg_exec(p,
		    "UPDATE sandboxes s SET state = 'lost', updated_at = now(), reason = "
		    "'its host ' || h.name || ' stopped answering at ' || "
		    "to_char(h.last_heartbeat AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
		    "FROM hosts h WHERE h.name = s.host AND h.state = 'down' AND s.state = 'running' "
		    "RETURNING s.id, s.host",
		    0, NULL, &r, err) < 0)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		log_warn("control.sandbox_lost", "id=%s host=%s", PQgetvalue(r, i, 0),
			 PQgetvalue(r, i, 1));
	PQclear(r);
	if (pg_exec(p, "DELETE FROM forgotten WHERE at < now() - interval '7 days'", 0, NULL,
		    NULL, err) < 0)
		return -1;
	return pg_exec(p,
		       "DELETE FROM placements WHERE created_at < now() - make_interval(secs => $1)",
		       1, q, NULL, err);
}

int sandboxes_forgotten_gone(struct pg *p, const char *host, json_t *reported,
			     struct thaw_err **err)
{
	_cleanup_free_ char *ids = json_dumps(reported, JSON_COMPACT);
	const char *q[] = { host, ids };
	return pg_exec(p,
		       "DELETE FROM forgotten WHERE host = $1 AND id NOT IN "
		       "(SELECT jsonb_array_elements_text($2::jsonb))",
		       2, q, NULL, err);
}
