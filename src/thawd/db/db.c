#include "db.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define SCHEMA_VERSION 8

struct db {
	sqlite3 *h;
	pthread_mutex_t lock; /* one statement (or transaction) at a time */
};

static const char *const schema = "CREATE TABLE IF NOT EXISTS templates ("
				  "  name TEXT PRIMARY KEY,"
				  "  build_id TEXT NOT NULL,"
				  "  meta_sha256 TEXT NOT NULL,"
				  "  created_at INTEGER NOT NULL);"
				  "CREATE TABLE IF NOT EXISTS sandboxes ("
				  "  id TEXT PRIMARY KEY,"
				  "  template TEXT NOT NULL,"
				  "  build_id TEXT NOT NULL,"
				  "  state TEXT NOT NULL,"
				  "  created_at INTEGER NOT NULL,"
				  "  timeout_at INTEGER NOT NULL DEFAULT 0,"
				  "  metadata TEXT NOT NULL DEFAULT '{}',"
				  "  vmm_pid INTEGER NOT NULL DEFAULT 0,"
				  "  vmm_start_ticks INTEGER NOT NULL DEFAULT 0,"
				  "  timings TEXT,"
				  "  reason TEXT);";

/* Each step brings a database at version i to version i + 1. */
static const char *const migrations[SCHEMA_VERSION] = {
	[0] = "",
	[1] = "ALTER TABLE sandboxes ADD COLUMN slot INTEGER NOT NULL DEFAULT -1;"
	      "CREATE TABLE IF NOT EXISTS slots (idx INTEGER PRIMARY KEY);",
	/* Lifecycle (fork, pause, snapshot): where a sandbox's memory comes
	 * from, its parent, what its timeout does; every build directory
	 * (template builds and sandbox images) with its meta.json checksum. */
	[2] = "ALTER TABLE sandboxes ADD COLUMN parent TEXT;"
	      "ALTER TABLE sandboxes ADD COLUMN image TEXT;"
	      "ALTER TABLE sandboxes ADD COLUMN on_timeout TEXT NOT NULL DEFAULT 'delete';"
	      "ALTER TABLE sandboxes ADD COLUMN timeout_s INTEGER NOT NULL DEFAULT 0;"
	      "ALTER TABLE sandboxes ADD COLUMN auto_resume INTEGER NOT NULL DEFAULT 0;"
	      "ALTER TABLE sandboxes ADD COLUMN paused_at INTEGER NOT NULL DEFAULT 0;"
	      "CREATE TABLE IF NOT EXISTS builds ("
	      "  build_id TEXT PRIMARY KEY,"
	      "  template TEXT NOT NULL,"
	      "  kind TEXT NOT NULL,"
	      "  meta_sha256 TEXT NOT NULL,"
	      "  created_at INTEGER NOT NULL);"
	      "INSERT OR IGNORE INTO builds SELECT build_id, name, 'bake', meta_sha256, created_at"
	      "  FROM templates;",
	/* Tenancy: every sandbox belongs to the API key that created it; the
	 * rows of a single-key thawd belong to its key, "default". A template
	 * a user key made from its sandbox is that key's (NULL: shared, as
	 * every template was until now). */
	[3] = "ALTER TABLE sandboxes ADD COLUMN owner TEXT NOT NULL DEFAULT 'default';"
	      "ALTER TABLE templates ADD COLUMN owner TEXT;",
	/* Limits asked for at create: CPU time, in 1/1000 of a core (0: the
	 * template's vCPUs). */
	[4] = "ALTER TABLE sandboxes ADD COLUMN cpu_millis INTEGER NOT NULL DEFAULT 0;",
	/* Per sandbox: its egress policy (net/netpolicy.h, normalized JSON;
	 * NULL: the default, internet and no lists) and the environment of
	 * its commands (a JSON object; NULL: none). */
	[5] = "ALTER TABLE sandboxes ADD COLUMN network TEXT;"
	      "ALTER TABLE sandboxes ADD COLUMN env TEXT;",
	/* Issue 17 (tcp): a sandbox's ports published on the host's range
	 * (ops/publish.c), re-opened when thawd restarts. */
	[6] = "CREATE TABLE IF NOT EXISTS published ("
	      "  sandbox_id TEXT NOT NULL,"
	      "  port INTEGER NOT NULL,"
	      "  host_port INTEGER NOT NULL UNIQUE,"
	      "  PRIMARY KEY (sandbox_id, port));",
	/* The Idempotency-Key its create came with (NULL: none): a restart
	 * remembers it (core/idempotency.h). */
	[7] = "ALTER TABLE sandboxes ADD COLUMN idem TEXT;",
};

static int schema_version(sqlite3 *h)
{
	sqlite3_stmt *st = NULL;
	int v = -1;
	if (sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Runs the missing migrations, each in one transaction with its version
 * bump, so a crash leaves the database at a version it really has. */
static int migrate(struct db *db, struct thaw_err **err)
{
	int v = schema_version(db->h);
	if (v < 0 || v > SCHEMA_VERSION)
		return err_set(err, ERR_CORRUPT,
			       "database schema version %d is not one this thawd knows", v);
	/* A fresh database got the version-1 schema from CREATE TABLE. */
	if (v == 0)
		v = 1;
	for (; v < SCHEMA_VERSION; v++) {
		char *msg = NULL;
		char *sql = xasprintf("BEGIN; %s PRAGMA user_version=%d; COMMIT;", migrations[v],
				      v + 1);
		int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);
		free(sql);
		if (rc != SQLITE_OK) {
			sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
			err_set(err, ERR_INTERNAL, "migrating the database to version %d: %s",
				v + 1, msg ? msg : "?");
			sqlite3_free(msg);
			return -1;
		}
	}
	return 0;
}

static int db_fail(struct db *db, const char *what, struct thaw_err **err)
{
	return err_set(err, ERR_INTERNAL, "database %s: %s", what, sqlite3_errmsg(db->h));
}

int db_open(const char *path, struct db **out, struct thaw_err **err)
{
	struct db *db = xcalloc(1, sizeof(*db));
	pthread_mutex_init(&db->lock, NULL);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
	if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
		err_set(err, ERR_INTERNAL, "opening database %s: %s", path,
			db->h ? sqlite3_errmsg(db->h) : "out of memory");
		db_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db->h, 5000);
	/* WAL + NORMAL: a commit survives a crash of thawd; after a power
	 * loss the last commits may be lost, and the start-up reconcile
	 * removes whatever they described. */
	char *msg = NULL;
	if (sqlite3_exec(db->h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
			 &msg) != SQLITE_OK ||
	    sqlite3_exec(db->h, schema, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(err, ERR_INTERNAL, "preparing database %s: %s", path, msg ? msg : "?");
		sqlite3_free(msg);
		db_close(db);
		return -1;
	}
	if (migrate(db, err) < 0) {
		db_close(db);
		return err_wrap(err, "opening database %s", path);
	}
	*out = db;
	return 0;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	sqlite3_close(db->h);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

/* Runs one statement with text/int64 parameters given as a format:
 * 's' text (NULL allowed), 'i' int64. */
static int db_run(struct db *db, const char *sql, const char *fmt, struct thaw_err **err, ...)
{
	va_list ap;
	va_start(ap, err);
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
	for (int i = 0; rc == SQLITE_OK && fmt[i]; i++) {
		if (fmt[i] == 's') {
			const char *s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT)
			       : sqlite3_bind_null(st, i + 1);
		} else {
			rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
		}
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	int ret = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : db_fail(db, "write", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->lock);
	va_end(ap);
	return ret;
}

static void copy_col(char *dst, size_t size, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

static char *dup_col(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return t ? xstrdup((const char *)t) : NULL;
}

#define SANDBOX_COLS                                                                               \
	"id, template, build_id, state, created_at, timeout_at, metadata, vmm_pid,"                \
	" vmm_start_ticks, timings, reason, slot, parent, image, on_timeout, timeout_s,"           \
	" auto_resume, paused_at, owner, cpu_millis, network, env, idem"

static void read_sandbox(sqlite3_stmt *st, struct sandbox_row *r)
{
	memset(r, 0, sizeof(*r));
	copy_col(r->id, sizeof(r->id), st, 0);
	copy_col(r->template_name, sizeof(r->template_name), st, 1);
	copy_col(r->build_id, sizeof(r->build_id), st, 2);
	copy_col(r->state, sizeof(r->state), st, 3);
	r->created_at = sqlite3_column_int64(st, 4);
	r->timeout_at = sqlite3_column_int64(st, 5);
	r->metadata = dup_col(st, 6);
	r->vmm_pid = sqlite3_column_int64(st, 7);
	r->vmm_start_ticks = (uint64_t)sqlite3_column_int64(st, 8);
	r->timings = dup_col(st, 9);
	r->reason = dup_col(st, 10);
	r->slot = sqlite3_column_int64(st, 11);
	copy_col(r->parent, sizeof(r->parent), st, 12);
	copy_col(r->image, sizeof(r->image), st, 13);
	copy_col(r->on_timeout, sizeof(r->on_timeout), st, 14);
	r->timeout_s = sqlite3_column_int64(st, 15);
	r->auto_resume = sqlite3_column_int(st, 16) != 0;
	r->paused_at = sqlite3_column_int64(st, 17);
	copy_col(r->owner, sizeof(r->owner), st, 18);
	r->cpu_millis = (uint32_t)sqlite3_column_int64(st, 19);
	r->network = dup_col(st, 20);
	r->env = dup_col(st, 21);
	copy_col(r->idem, sizeof(r->idem), st, 22);
}

void sandbox_row_free(struct sandbox_row *r)
{
	free(r->metadata);
	free(r->timings);
	free(r->reason);
	free(r->network);
	free(r->env);
	r->metadata = r->timings = r->reason = r->network = r->env = NULL;
}

int db_sandbox_insert(struct db *db, const struct sandbox_row *r, struct thaw_err **err)
{
	return db_run(
		db,
		"INSERT INTO sandboxes (id, template, build_id, state, created_at, timeout_at,"
		" metadata, slot, parent, image, on_timeout, timeout_s, auto_resume, owner, "
		"cpu_millis,"
		" network, env, idem) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		"ssssiisisssiisisss", err, r->id, r->template_name, r->build_id, r->state,
		r->created_at, r->timeout_at, r->metadata ? r->metadata : "{}", r->slot,
		r->parent[0] ? r->parent : NULL, r->image[0] ? r->image : NULL,
		r->on_timeout[0] ? r->on_timeout : "delete", r->timeout_s, (int64_t)r->auto_resume,
		r->owner[0] ? r->owner : "default", (int64_t)r->cpu_millis, r->network, r->env,
		r->idem[0] ? r->idem : NULL);
}

int db_sandbox_set_network(struct db *db, const char *id, const char *network,
			   struct thaw_err **err)
{
	return db_run(db, "UPDATE sandboxes SET network=? WHERE id=?", "ss", err, network, id);
}

int db_sandbox_set_running(struct db *db, const char *id, int64_t pid, uint64_t start_ticks,
			   int64_t slot, const char *timings, struct thaw_err **err)
{
	return db_run(db,
		      "UPDATE sandboxes SET state='running', vmm_pid=?, vmm_start_ticks=?, slot=?,"
		      " timings=? WHERE id=?",
		      "iiiss", err, pid, (int64_t)start_ticks, slot, timings, id);
}

int db_sandbox_set_state(struct db *db, const char *id, const char *state, const char *reason,
			 struct thaw_err **err)
{
	return db_run(db, "UPDATE sandboxes SET state=?, reason=? WHERE id=?", "sss", err, state,
		      reason, id);
}

int db_sandbox_set_timeout(struct db *db, const char *id, int64_t timeout_at, int64_t timeout_s,
			   struct thaw_err **err)
{
	return db_run(db, "UPDATE sandboxes SET timeout_at=?, timeout_s=? WHERE id=?", "iis", err,
		      timeout_at, timeout_s, id);
}

int db_sandbox_set_paused(struct db *db, const char *id, const char *image, int64_t paused_at,
			  struct thaw_err **err)
{
	return db_run(db,
		      "UPDATE sandboxes SET state='paused', image=?, paused_at=?, vmm_pid=0,"
		      " vmm_start_ticks=0, slot=-1, timeout_at=0 WHERE id=?",
		      "sis", err, image, paused_at, id);
}

int db_sandbox_set_resumed(struct db *db, const char *id, int64_t pid, uint64_t start_ticks,
			   int64_t slot, int64_t timeout_at, struct thaw_err **err)
{
	return db_run(db,
		      "UPDATE sandboxes SET state='running', vmm_pid=?, vmm_start_ticks=?, slot=?,"
		       /* a recovered sandbox's reason was its failure's */
		      " timeout_at=?, paused_at=0, reason=NULL WHERE id=?",
		      "iiiis", err, pid, (int64_t)start_ticks, slot, timeout_at, id);
}

int db_sandbox_delete(struct db *db, const char *id, struct thaw_err **err)
{
	return db_run(db, "DELETE FROM sandboxes WHERE id=?", "s", err, id);
}

int db_sandbox_each(struct db *db, db_sandbox_fn fn, void *ud, struct thaw_err **err)
{
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(
		db->h, "SELECT " SANDBOX_COLS " FROM sandboxes ORDER BY created_at, rowid", -1, &st,
		NULL);
	/* Rows are collected first: the callback may write to the database. */
	struct sandbox_row *rows = NULL;
	size_t n = 0;
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		rows = xrealloc(rows, (n + 1) * sizeof(*rows));
		read_sandbox(st, &rows[n++]);
	}
	int ret = rc == SQLITE_OK ? 0 : db_fail(db, "read", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->lock);
	for (size_t i = 0; i < n; i++) {
		if (ret == 0)
			fn(&rows[i], ud);
		sandbox_row_free(&rows[i]);
	}
	free(rows);
	return ret;
}

/* SELECT COUNT(*) with text parameters. */
static int db_count(struct db *db, const char *sql, int *count, struct thaw_err **err,
		    const char *p1, const char *p2)
{
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, p1, -1, SQLITE_TRANSIENT);
		if (p2)
			sqlite3_bind_text(st, 2, p2, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st) == SQLITE_ROW ? SQLITE_OK : SQLITE_ERROR;
		*count = sqlite3_column_int(st, 0);
	}
	int ret = rc == SQLITE_OK ? 0 : db_fail(db, "read", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->lock);
	return ret;
}

int db_build_in_use(struct db *db, const char *template_name, const char *build_id, int *count,
		    struct thaw_err **err)
{
	return db_count(db, "SELECT COUNT(*) FROM sandboxes WHERE template=? AND build_id=?", count,
			err, template_name, build_id);
}

int db_template_in_use(struct db *db, const char *template_name, int *count, struct thaw_err **err)
{
	return db_count(db, "SELECT COUNT(*) FROM sandboxes WHERE template=?", count, err,
			template_name, NULL);
}

int db_image_in_use(struct db *db, const char *image, int *count, struct thaw_err **err)
{
	return db_count(db, "SELECT COUNT(*) FROM sandboxes WHERE image=?", count, err, image,
			NULL);
}

/* One row by its key: read fills out; a missing row is ERR_NOT_FOUND
 * with "<what> <key> <missing>". */
static int get_one(struct db *db, const char *sql, const char *key,
		   void (*read)(sqlite3_stmt *st, void *out), void *out, const char *what,
		   const char *missing, struct thaw_err **err)
{
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
	int ret;
	if (rc != SQLITE_OK) {
		ret = db_fail(db, "read", err);
	} else {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			read(st, out);
			ret = 0;
		} else {
			ret = rc == SQLITE_DONE
				      ? err_set(err, ERR_NOT_FOUND, "%s %s %s", what, key, missing)
				      : db_fail(db, "read", err);
		}
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->lock);
	return ret;
}

static void read_sandbox_any(sqlite3_stmt *st, void *out)
{
	read_sandbox(st, out);
}

int db_sandbox_get(struct db *db, const char *id, struct sandbox_row *out, struct thaw_err **err)
{
	return get_one(db, "SELECT " SANDBOX_COLS " FROM sandboxes WHERE id=?", id,
		       read_sandbox_any, out, "sandbox", "does not exist", err);
}

int db_build_put(struct db *db, const struct build_row *b, struct thaw_err **err)
{
	return db_run(
		db,
		"INSERT OR REPLACE INTO builds (build_id, template, kind, meta_sha256, created_at)"
		" VALUES (?, ?, ?, ?, ?)",
		"ssssi", err, b->build_id, b->template_name, b->kind, b->meta_sha256,
		b->created_at);
}

static void read_build(sqlite3_stmt *st, struct build_row *b)
{
	copy_col(b->build_id, sizeof(b->build_id), st, 0);
	copy_col(b->template_name, sizeof(b->template_name), st, 1);
	copy_col(b->kind, sizeof(b->kind), st, 2);
	copy_col(b->meta_sha256, sizeof(b->meta_sha256), st, 3);
	b->created_at = sqlite3_column_int64(st, 4);
}

static void read_build_any(sqlite3_stmt *st, void *out)
{
	read_build(st, out);
}

int db_build_get(struct db *db, const char *build_id, struct build_row *out, struct thaw_err **err)
{
	return get_one(db,
		       "SELECT build_id, template, kind, meta_sha256, created_at"
		       " FROM builds WHERE build_id=?",
		       build_id, read_build_any, out, "build", "is not recorded", err);
}

int db_build_delete(struct db *db, const char *build_id, struct thaw_err **err)
{
	return db_run(db, "DELETE FROM builds WHERE build_id=?", "s", err, build_id);
}

int db_build_each(struct db *db, const char *kind, void (*fn)(const struct build_row *b, void *ud),
		  void *ud, struct thaw_err **err)
{
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->h,
				    "SELECT build_id, template, kind, meta_sha256, created_at"
				    " FROM builds WHERE kind=? ORDER BY build_id",
				    -1, &st, NULL);
	struct build_row *rows = NULL;
	size_t n = 0;
	if (rc == SQLITE_OK)
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		rows = xrealloc(rows, (n + 1) * sizeof(*rows));
		read_build(st, &rows[n++]);
	}
	int ret = rc == SQLITE_OK ? 0 : db_fail(db, "read", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->lock);
	for (size_t i = 0; ret == 0 && i < n; i++)
		fn(&rows[i], ud);
	free(rows);
	return ret;
}

int db_template_delete(struct db *db, const char *name, struct thaw_err **err)
{
	return db_run(db, "DELETE FROM templates WHERE name=?", "s", err, name);
}

int db_slot_insert(struct db *db, uint32_t index, struct thaw_err **err)
{
	return db_run(db, "INSERT OR REPLACE INTO slots (idx) VALUES (?)", "i", err,
		      (int64_t)index);
}

int db_slot_delete(struct db *db, uint32_t index, struct thaw_err **err)
{
	return db_run(db, "DELETE FROM slots WHERE idx=?", "i", err, (int64_t)index);
}

int db_slot_each(struct db *db, void (*fn)(uint32_t index, void *ud), void *ud,
		 struct thaw_err **err)
{
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->h, "SELECT idx FROM slots ORDER BY idx", -1, &st, NULL);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		sqlite3_int64 v = sqlite3_column_int64(st, 0);
		if (v >= 0 && v <= UINT32_MAX)
			fn((uint32_t)v, ud);
	}
	int ret = rc == SQLITE_OK ? 0 : db_fail(db, "read", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->lock);
	return ret;
}

int db_template_put(struct db *db, const struct template_row *t, struct thaw_err **err)
{
	return db_run(db,
		      "INSERT INTO templates (name, build_id, meta_sha256, created_at, owner)"
		      " VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
		      " build_id=excluded.build_id, meta_sha256=excluded.meta_sha256,"
		      " created_at=excluded.created_at, owner=excluded.owner",
		      "sssis", err, t->name, t->build_id, t->meta_sha256, t->created_at,
		      t->owner[0] ? t->owner : NULL);
}

static void read_template(sqlite3_stmt *st, struct template_row *t)
{
	copy_col(t->name, sizeof(t->name), st, 0);
	copy_col(t->build_id, sizeof(t->build_id), st, 1);
	copy_col(t->meta_sha256, sizeof(t->meta_sha256), st, 2);
	t->created_at = sqlite3_column_int64(st, 3);
	copy_col(t->owner, sizeof(t->owner), st, 4);
}

static void read_template_any(sqlite3_stmt *st, void *out)
{
	read_template(st, out);
}

int db_template_get(struct db *db, const char *name, struct template_row *out,
		    struct thaw_err **err)
{
	return get_one(db,
		       "SELECT name, build_id, meta_sha256, created_at, owner FROM templates"
		       " WHERE name=?",
		       name, read_template_any, out, "template", "does not exist", err);
}

int db_template_each(struct db *db, db_template_fn fn, void *ud, struct thaw_err **err)
{
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(
		db->h,
		"SELECT name, build_id, meta_sha256, created_at, owner FROM templates ORDER BY name",
		-1,
		&st, NULL);
	struct template_row *rows = NULL;
	size_t n = 0;
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		rows = xrealloc(rows, (n + 1) * sizeof(*rows));
		read_template(st, &rows[n++]);
	}
	int ret = rc == SQLITE_OK ? 0 : db_fail(db, "read", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->lock);
	for (size_t i = 0; ret == 0 && i < n; i++)
		fn(&rows[i], ud);
	free(rows);
	return ret;
}

/* ---- published ports (issue 17) ------------------------------------- */

int db_published_put(struct db *db, const char *id, int port, int host_port, struct thaw_err **err)
{
	return db_run(db,
		      "INSERT OR REPLACE INTO published (sandbox_id, port, host_port)"
		      " VALUES (?, ?, ?)",
		      "sii", err, id, (int64_t)port, (int64_t)host_port);
}

int db_published_delete(struct db *db, const char *id, int port, struct thaw_err **err)
{
	/* port 0: all of the sandbox's */
	if (port == 0)
		return db_run(db, "DELETE FROM published WHERE sandbox_id=?", "s", err, id);
	return db_run(db, "DELETE FROM published WHERE sandbox_id=? AND port=?", "si", err, id,
		      (int64_t)port);
}

int db_published_each(struct db *db, db_published_fn fn, void *ud, struct thaw_err **err)
{
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->h, "SELECT sandbox_id, port, host_port FROM published", -1,
				    &st, NULL);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *id = sqlite3_column_text(st, 0);
		sqlite3_int64 port = sqlite3_column_int64(st, 1), hp = sqlite3_column_int64(st, 2);
		if (id && port >= 1 && port <= 65535 && hp >= 1 && hp <= 65535)
			fn((const char *)id, (int)port, (int)hp, ud);
	}
	int ret = rc == SQLITE_OK ? 0 : db_fail(db, "read", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->lock);
	return ret;
}
