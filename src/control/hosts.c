#include "control/hosts.h"
#include "control/sandboxes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "ids.h"
#include "log.h"

#define TEMPLATES_MAX 4096

static bool text_ok(json_t *v, size_t max)
{
	if (!json_is_string(v))
		return false;
	const char *s = json_string_value(v);
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* "host:port": an IPv4 address or a DNS name, a port 1-65535. */
static bool address_ok(json_t *v)
{
	if (!text_ok(v, 255))
		return false;
	const char *s = json_string_value(v), *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return false;
	size_t hn = (size_t)(colon - s);
	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != hn)
		return false;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	return colon[1] && !*end && port >= 1 && port <= 65535;
}

/* An object of non-negative integers, only the keys named. */
static bool counts_ok(json_t *o, const char *const *keys)
{
	if (!json_is_object(o))
		return false;
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		bool known = false;
		for (const char *const *n = keys; *n; n++)
			known |= !strcmp(*n, k);
		if (!known || !json_is_integer(v) || json_integer_value(v) < 0)
			return false;
	}
	return true;
}

static const char *const capacity_keys[] = { "memory_mb", "vcpus", "slots", "disk_mb",
					     "max_sandboxes", NULL };
static const char *const used_keys[] = { "sandboxes", "memory_available_mb", "disk_free_mb",
					 NULL };

static bool templates_ok(json_t *a)
{
	if (!json_is_array(a) || json_array_size(a) > TEMPLATES_MAX)
		return false;
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v) || !id_valid_template(json_string_value(v)))
			return false;
	}
	return true;
}

static int invalid(struct thaw_err **err, const char *what)
{
	return err_set(err, ERR_INVALID, "host report: %s", what);
}

#define SANDBOXES_MAX 65536

static bool ids_ok(json_t *a)
{
	if (!json_is_array(a) || json_array_size(a) > SANDBOXES_MAX)
		return false;
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v) || !id_valid_sandbox(json_string_value(v)))
			return false;
	}
	return true;
}

static int check_beat(json_t *b, struct thaw_err **err)
{
	json_t *sb = json_object_get(b, "sandboxes");
	if (sb && (!json_is_object(sb) || json_object_size(sb) != 3 ||
		   !ids_ok(json_object_get(sb, "running")) ||
		   !ids_ok(json_object_get(sb, "paused")) || !ids_ok(json_object_get(sb, "other"))))
		return invalid(err, "sandboxes must be {running: [ids], paused: [ids], other: [ids]}");
	json_t *used = json_object_get(b, "used"), *t = json_object_get(b, "templates");
	if (used && !counts_ok(used, used_keys))
		return invalid(err, "used must be {sandboxes, memory_available_mb, disk_free_mb} "
				    "of non-negative integers");
	if (t && !templates_ok(t))
		return invalid(err, "templates must be a list of template names");
	return 0;
}

static int check_report(json_t *r, struct thaw_err **err)
{
	static const char *const fields[] = { "name",	  "address",   "cpu_model",
					      "qemu_version", "accel",	   "capacity",
					      "used",	      "templates", "sandboxes",
					      NULL };
	if (!json_is_object(r))
		return invalid(err, "a JSON object expected");
	const char *k;
	json_t *v;
	json_object_foreach(r, k, v)
	{
		bool known = false;
		for (const char *const *f = fields; *f; f++)
			known |= !strcmp(*f, k);
		if (!known)
			return err_set(err, ERR_INVALID, "host report: unknown field %s", k);
	}
	json_t *name = json_object_get(r, "name"), *accel = json_object_get(r, "accel");
	if (!json_is_string(name) || !id_valid_template(json_string_value(name)))
		return invalid(err, "name must be 1-63 characters of [a-z0-9-]");
	if (!address_ok(json_object_get(r, "address")))
		return invalid(err, "address must be HOST:PORT");
	if (!text_ok(json_object_get(r, "cpu_model"), 128) ||
	    !text_ok(json_object_get(r, "qemu_version"), 64))
		return invalid(err, "cpu_model and qemu_version must be printable text");
	if (!json_is_string(accel) || (strcmp(json_string_value(accel), "kvm") &&
				       strcmp(json_string_value(accel), "tcg")))
		return invalid(err, "accel must be kvm or tcg");
	if (!counts_ok(json_object_get(r, "capacity"), capacity_keys))
		return invalid(err, "capacity must be {memory_mb, vcpus, slots, disk_mb, "
				    "max_sandboxes} of non-negative integers");
	return check_beat(r, err);
}

static char *dump(json_t *v, const char *dflt)
{
	return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : xstrdup(dflt);
}

int hosts_register(struct pg *p, json_t *report, struct thaw_err **err)
{
	if (check_report(report, err) < 0)
		return -1;
	json_t *info = json_pack("{s:O,s:O,s:O,s:O}", "cpu_model",
				 json_object_get(report, "cpu_model"), "qemu_version",
				 json_object_get(report, "qemu_version"), "accel",
				 json_object_get(report, "accel"), "capacity",
				 json_object_get(report, "capacity"));
	_cleanup_free_ char *info_s = dump(info, "{}");
	json_decref(info);
	_cleanup_free_ char *used_s = dump(json_object_get(report, "used"), "{}");
	_cleanup_free_ char *tpl_s = dump(json_object_get(report, "templates"), "[]");
	const char *name = json_string_value(json_object_get(report, "name"));
	const char *params[] = { name, json_string_value(json_object_get(report, "address")),
				 info_s, used_s, tpl_s };
	int rc = pg_exec(p,
			 "INSERT INTO hosts (name, address, state, info, used, templates) "
			 "VALUES ($1, $2, 'up', $3, $4, $5) "
			 "ON CONFLICT (name) DO UPDATE SET address = $2, info = $3, used = $4, "
			 "templates = $5, last_heartbeat = now(), registered_at = now(), "
			 "incarnation = hosts.incarnation + 1, "
			 "state_since = CASE WHEN hosts.state = 'down' THEN now() "
			 "ELSE hosts.state_since END, "
			 "state = CASE WHEN hosts.state = 'draining' THEN 'draining' ELSE 'up' END",
			 5, params, NULL, err);
	if (rc == 0)
		log_notice("control.host_registered", "host=%s address=%s", name, params[1]);
	return rc;
}

/* What the host has is the truth about its sandboxes: lost ones it
 * still has come back with the state it reports; rows of sandboxes it no
 * longer has (deleted there, expired) go, except ones placed in the last
 * seconds (their create may have answered after this beat was taken). */
static int reconcile(struct pg *p, const char *name, json_t *sb, struct thaw_err **err)
{
	_cleanup_free_ char *running = json_dumps(json_object_get(sb, "running"), JSON_COMPACT);
	_cleanup_free_ char *paused = json_dumps(json_object_get(sb, "paused"), JSON_COMPACT);
	_cleanup_free_ char *other = json_dumps(json_object_get(sb, "other"), JSON_COMPACT);
	const char *q[] = { name, running, paused, other };
	PGresult *r = NULL;
	if (pg_exec(p,
		    "WITH have AS ("
		    " SELECT jsonb_array_elements_text($2::jsonb) AS id, 'running' AS state"
		    " UNION ALL SELECT jsonb_array_elements_text($3::jsonb), 'paused'"
		    " UNION ALL SELECT jsonb_array_elements_text($4::jsonb), 'other'),"
		    " back AS (UPDATE sandboxes s SET state = have.state, reason = NULL,"
		    "  updated_at = now() FROM have WHERE s.host = $1 AND s.id = have.id"
		    "  AND s.state = 'lost' AND have.state <> 'other' RETURNING s.id),"
		    " gone AS (DELETE FROM sandboxes s WHERE s.host = $1"
		    "  AND s.created_at < now() - interval '30 seconds'"
		    "  AND s.id NOT IN (SELECT id FROM have) RETURNING s.id)"
		    " SELECT 'back', id FROM back UNION ALL SELECT 'gone', id FROM gone",
		    4, q, &r, err) < 0)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		log_notice(strcmp(PQgetvalue(r, i, 0), "back") ? "control.sandbox_gone"
							       : "control.sandbox_back",
			   "id=%s host=%s", PQgetvalue(r, i, 1), name);
	PQclear(r);
	return 0;
}

int hosts_heartbeat(struct pg *p, const char *name, json_t *beat, json_t **moved,
		    struct thaw_err **err)
{
	*moved = NULL;
	if (!json_is_object(beat) || check_beat(beat, err) < 0)
		return json_is_object(beat) ? -1 : invalid(err, "a JSON object expected");
	_cleanup_free_ char *used_s = dump(json_object_get(beat, "used"), "{}");
	_cleanup_free_ char *tpl_s = json_object_get(beat, "templates")
					     ? dump(json_object_get(beat, "templates"), "[]")
					     : NULL;
	const char *params[] = { name, used_s, tpl_s };
	PGresult *r = NULL;
	if (pg_exec(p,
		    "UPDATE hosts SET last_heartbeat = now(), used = $2, "
		    "templates = COALESCE($3::jsonb, templates), "
		    "state_since = CASE WHEN state = 'down' THEN now() ELSE state_since END, "
		    "state = CASE WHEN state = 'down' THEN 'up' ELSE state END "
		    "WHERE name = $1 RETURNING 1",
		    3, params, &r, err) < 0)
		return -1;
	int n = PQntuples(r);
	PQclear(r);
	if (n == 0)
		return err_set(err, ERR_NOT_FOUND, "host %s is not registered", name);
	json_t *sb = json_object_get(beat, "sandboxes");
	if (!sb) {
		*moved = json_array();
		return 0;
	}
	if (reconcile(p, name, sb, err) < 0)
		return -1;
	/* Settled ones only: a sandbox on its way somewhere (being adopted
	 * here, say) is not judged until it gets there. */
	json_t *all = json_array();
	json_array_extend(all, json_object_get(sb, "running"));
	json_array_extend(all, json_object_get(sb, "paused"));
	int rc = sandboxes_elsewhere(p, name, all, moved, err);
	json_array_extend(all, json_object_get(sb, "other"));
	if (rc == 0)
		rc = sandboxes_forgotten_gone(p, name, all, err);
	json_decref(all);
	return rc;
}

int hosts_sweep(struct pg *p, int *n, struct thaw_err **err)
{
	char lease[16];
	snprintf(lease, sizeof(lease), "%d", HOST_LEASE_S);
	const char *params[] = { lease };
	PGresult *r = NULL;
	*n = 0;
	if (pg_exec(p,
		    "UPDATE hosts SET state = 'down', state_since = now() "
		    "WHERE state <> 'down' AND last_heartbeat < now() - make_interval(secs => $1) "
		    "RETURNING name, extract(epoch FROM now() - last_heartbeat)",
		    1, params, &r, err) < 0)
		return -1;
	*n = PQntuples(r);
	for (int i = 0; i < *n; i++)
		log_warn("control.host_down", "host=%s silent_s=%s", PQgetvalue(r, i, 0),
			 PQgetvalue(r, i, 1));
	PQclear(r);
	return 0;
}

/* Times as the rest of the API shows them: RFC 3339, UTC, milliseconds. */
#define ISO8601 "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'"

static json_t *parsed(PGresult *r, int row, int col)
{
	json_t *v = json_loads(PQgetvalue(r, row, col), JSON_DECODE_ANY, NULL);
	return v ? v : json_null();
}

int hosts_list(struct pg *p, json_t **out, struct thaw_err **err)
{
	PGresult *r = NULL;
	if (pg_exec(p,
		    "SELECT name, state, address, info, used, templates, incarnation, "
		    "to_char(last_heartbeat AT TIME ZONE 'UTC', " ISO8601 "), "
		    "(extract(epoch FROM now() - last_heartbeat) * 1000)::bigint, "
		    "to_char(state_since AT TIME ZONE 'UTC', " ISO8601 ") FROM hosts ORDER BY name",
		    0, NULL, &r, err) < 0)
		return -1;
	json_t *a = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *info = parsed(r, i, 3);
		json_t *h = json_pack(
			"{s:s,s:s,s:s,s:O?,s:o,s:o,s:O?,s:O?,s:O?,s:I,s:s,s:I,s:s}", "name",
			PQgetvalue(r, i, 0), "state", PQgetvalue(r, i, 1), "address",
			PQgetvalue(r, i, 2), "capacity", json_object_get(info, "capacity"), "used",
			parsed(r, i, 4), "templates_cached", parsed(r, i, 5), "cpu_model",
			json_object_get(info, "cpu_model"), "qemu_version",
			json_object_get(info, "qemu_version"), "accel",
			json_object_get(info, "accel"), "incarnation",
			(json_int_t)atoll(PQgetvalue(r, i, 6)), "last_heartbeat",
			PQgetvalue(r, i, 7), "heartbeat_age_ms",
			(json_int_t)atoll(PQgetvalue(r, i, 8)), "state_since", PQgetvalue(r, i, 9));
		json_decref(info);
		if (h)
			json_array_append_new(a, h);
	}
	PQclear(r);
	*out = a;
	return 0;
}

int hosts_drain(struct pg *p, const char *name, struct thaw_err **err)
{
	const char *params[] = { name };
	PGresult *r = NULL;
	if (pg_exec(p,
		    "UPDATE hosts SET state = 'draining', state_since = now() "
		    "WHERE name = $1 AND state <> 'draining' RETURNING 1",
		    1, params, &r, err) < 0)
		return -1;
	int n = PQntuples(r);
	PQclear(r);
	if (n == 0) {
		const char *q[] = { name };
		if (pg_exec(p, "SELECT 1 FROM hosts WHERE name = $1", 1, q, &r, err) < 0)
			return -1;
		n = PQntuples(r);
		PQclear(r);
		if (n == 0)
			return err_set(err, ERR_NOT_FOUND, "no host named %s", name);
	}
	log_notice("control.host_draining", "host=%s", name);
	return 0;
}

static int remove_tx(struct pg_conn *c, void *arg, struct thaw_err **err)
{
	const char *name = arg;
	const char *q[] = { name };
	PGresult *r = NULL;
	if (pg_conn_exec(c, "SELECT state FROM hosts WHERE name = $1 FOR UPDATE", 1, q, &r, err) <
	    0)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return err_set(err, ERR_NOT_FOUND, "no host named %s", name);
	}
	bool down = strcmp(PQgetvalue(r, 0, 0), "down") == 0;
	PQclear(r);
	if (!down)
		return err_set(err, ERR_CONFLICT,
			       "host %s is not down: drain it, stop its thawd, and remove it once "
			       "it is down (a host that still beats would only join again)",
			       name);
	if (pg_conn_exec(c,
			 "SELECT count(*) FILTER (WHERE state = 'running'), "
			 "count(*) FILTER (WHERE state = 'paused') FROM sandboxes WHERE host = $1",
			 1, q, &r, err) < 0)
		return -1;
	long running = atol(PQgetvalue(r, 0, 0)), paused = atol(PQgetvalue(r, 0, 1));
	PQclear(r);
	if (running || paused)
		return err_set(err, ERR_CONFLICT,
			       "host %s still has %ld running and %ld paused sandboxes: resume the "
			       "paused ones (they move) and delete the rest first",
			       name, running, paused);
	/* Its lost sandboxes cannot come back through it any more: their
	 * rows go, as tombstones in case the machine joins again with them. */
	if (pg_conn_exec(c,
			 "WITH gone AS (DELETE FROM sandboxes WHERE host = $1 RETURNING id) "
			 "INSERT INTO forgotten (id, host) SELECT id, $1 FROM gone "
			 "ON CONFLICT (id) DO NOTHING",
			 1, q, NULL, err) < 0)
		return -1;
	if (pg_conn_exec(c, "DELETE FROM placements WHERE host = $1", 1, q, NULL, err) < 0)
		return -1;
	return pg_conn_exec(c, "DELETE FROM hosts WHERE name = $1", 1, q, NULL, err);
}

int hosts_remove(struct pg *p, const char *name, struct thaw_err **err)
{
	if (pg_transaction(p, 0, remove_tx, (void *)name, err) < 0)
		return -1;
	log_notice("control.host_removed", "host=%s", name);
	return 0;
}
