/* src/thawd/db/db.c against a real SQLite file in a mkdtemp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "db/db.h"
#include "testutil.h"

struct fx {
	char dir[64];
	char *path;
	struct db *db;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/thaw-unit-db-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	f->path = xasprintf("%s/thaw.db", f->dir);
	struct thaw_err *e = NULL;
	if (db_open(f->path, &f->db, &e) < 0) {
		err_free(e);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	db_close(f->db);
	struct thaw_err *e = NULL;
	int rc = fs_rm_rf(f->dir, &e);
	err_free(e);
	free(f->path);
	free(f);
	return rc;
}

/* Rows as db_sandbox_each reports them, deep-copied. */
struct rows {
	struct sandbox_row r[16];
	size_t n;
};

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void collect(const struct sandbox_row *r, void *ud)
{
	struct rows *rows = ud;
	assert_true(rows->n < 16);
	struct sandbox_row *c = &rows->r[rows->n++];
	*c = *r;
	c->metadata = dup_or_null(r->metadata);
	c->timings = dup_or_null(r->timings);
	c->reason = dup_or_null(r->reason);
	c->network = dup_or_null(r->network);
	c->env = dup_or_null(r->env);
}

static void rows_free(struct rows *rows)
{
	for (size_t i = 0; i < rows->n; i++)
		sandbox_row_free(&rows->r[i]);
	rows->n = 0;
}

static void list(struct db *db, struct rows *out)
{
	memset(out, 0, sizeof(*out));
	struct thaw_err *e = NULL;
	assert_int_equal(db_sandbox_each(db, collect, out, &e), 0);
	assert_null(e);
}

static void insert(struct db *db, const char *id, const char *tmpl, const char *build,
		   int64_t created, const char *metadata)
{
	struct sandbox_row r;
	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "%s", id);
	snprintf(r.template_name, sizeof(r.template_name), "%s", tmpl);
	snprintf(r.build_id, sizeof(r.build_id), "%s", build);
	r.slot = -1;
	snprintf(r.state, sizeof(r.state), "creating");
	r.created_at = created;
	r.timeout_at = created + 300;
	r.metadata = (char *)metadata;
	snprintf(r.owner, sizeof(r.owner), "%s", strcmp(id, "sb-aaaaaaaaaaaa") ? "" : "alice");
	struct thaw_err *e = NULL;
	assert_int_equal(db_sandbox_insert(db, &r, &e), 0);
	assert_null(e);
}

static void test_insert_then_each_returns_every_field(void **state)
{
	struct fx *f = *state;
	insert(f->db, "sb-aaaaaaaaaaaa", "code-interpreter", "20261128T011455-3k9d", 1000,
	       "{\"user\":\"ada\"}");
	struct rows rows;
	list(f->db, &rows);
	assert_int_equal(rows.n, 1);
	const struct sandbox_row *r = &rows.r[0];
	assert_string_equal(r->id, "sb-aaaaaaaaaaaa");
	assert_string_equal(r->template_name, "code-interpreter");
	assert_string_equal(r->build_id, "20261128T011455-3k9d");
	assert_string_equal(r->state, "creating");
	assert_true(r->created_at == 1000);
	assert_true(r->timeout_at == 1300);
	assert_string_equal(r->metadata, "{\"user\":\"ada\"}");
	assert_string_equal(r->owner, "alice");
	assert_true(r->vmm_pid == 0);
	assert_true(r->vmm_start_ticks == 0);
	assert_null(r->timings);
	assert_null(r->reason);
	rows_free(&rows);
}

static void test_missing_metadata_is_stored_as_an_empty_object(void **state)
{
	struct fx *f = *state;
	insert(f->db, "sb-bbbbbbbbbbbb", "t", "b", 1, NULL);
	struct rows rows;
	list(f->db, &rows);
	assert_int_equal(rows.n, 1);
	assert_string_equal(rows.r[0].metadata, "{}");
	rows_free(&rows);
}

static void test_each_returns_rows_in_creation_order(void **state)
{
	struct fx *f = *state;
	insert(f->db, "sb-cccccccccccc", "t", "b", 300, NULL);
	insert(f->db, "sb-aaaaaaaaaaaa", "t", "b", 100, NULL);
	insert(f->db, "sb-bbbbbbbbbbbb", "t", "b", 200, NULL);
	struct rows rows;
	list(f->db, &rows);
	assert_int_equal(rows.n, 3);
	assert_string_equal(rows.r[0].id, "sb-aaaaaaaaaaaa");
	assert_string_equal(rows.r[1].id, "sb-bbbbbbbbbbbb");
	assert_string_equal(rows.r[2].id, "sb-cccccccccccc");
	rows_free(&rows);
}

/* Known bug (or an undocumented choice): created_at has one-second
 * resolution and ties are broken by id, which is random, so sandboxes
 * created within the same second are listed in random order, not in the
 * order they were created (ORDER BY created_at, rowid would be). */
static void test_each_keeps_creation_order_within_one_second(void **state)
{
	struct fx *f = *state;
	insert(f->db, "sb-zzzzzzzzzzzz", "t", "b", 500, NULL);
	insert(f->db, "sb-aaaaaaaaaaaa", "t", "b", 500, NULL);
	struct rows rows;
	list(f->db, &rows);
	assert_int_equal(rows.n, 2);
	char first[32];
	snprintf(first, sizeof(first), "%s", rows.r[0].id);
	rows_free(&rows);
	assert_string_equal(first, "sb-zzzzzzzzzzzz");
}

static void test_set_running_records_the_vmm(void **state)
{
	struct fx *f = *state;
	insert(f->db, "sb-aaaaaaaaaaaa", "t", "b", 1, NULL);
	insert(f->db, "sb-bbbbbbbbbbbb", "t", "b", 2, NULL);
	struct thaw_err *e = NULL;
	uint64_t ticks = (1ull << 40) + 7;
	assert_int_equal(db_sandbox_set_running(f->db, "sb-aaaaaaaaaaaa", 4242, ticks, 9000,
						"{\"total_ms\":41.5}", &e),
			 0);
	struct rows rows;
	list(f->db, &rows);
	assert_string_equal(rows.r[0].state, "running");
	assert_true(rows.r[0].vmm_pid == 4242);
	assert_true(rows.r[0].vmm_start_ticks == ticks);
	assert_true(rows.r[0].slot == 9000);
	assert_true(rows.r[1].slot == -1); /* no slot until running */
	assert_string_equal(rows.r[0].timings, "{\"total_ms\":41.5}");
	/* The other row is untouched. */
	assert_string_equal(rows.r[1].state, "creating");
	assert_true(rows.r[1].vmm_pid == 0);
	assert_null(rows.r[1].timings);
	rows_free(&rows);
}

static void test_set_state_and_reason(void **state)
{
	struct fx *f = *state;
	insert(f->db, "sb-aaaaaaaaaaaa", "t", "b", 1, NULL);
	struct thaw_err *e = NULL;
	assert_int_equal(db_sandbox_set_state(f->db, "sb-aaaaaaaaaaaa", "failed",
					      "restore: QEMU exited with status 1", &e),
			 0);
	struct rows rows;
	list(f->db, &rows);
	assert_string_equal(rows.r[0].state, "failed");
	assert_string_equal(rows.r[0].reason, "restore: QEMU exited with status 1");
	rows_free(&rows);
	/* A NULL reason clears it. */
	assert_int_equal(db_sandbox_set_state(f->db, "sb-aaaaaaaaaaaa", "deleting", NULL, &e), 0);
	list(f->db, &rows);
	assert_string_equal(rows.r[0].state, "deleting");
	assert_null(rows.r[0].reason);
	rows_free(&rows);
	assert_int_equal(db_sandbox_set_timeout(f->db, "sb-aaaaaaaaaaaa", 99999, 600, &e), 0);
	list(f->db, &rows);
	assert_true(rows.r[0].timeout_at == 99999);
	assert_true(rows.r[0].timeout_s == 600);
	rows_free(&rows);
	assert_null(e);
}

static void test_delete_removes_only_that_row(void **state)
{
	struct fx *f = *state;
	insert(f->db, "sb-aaaaaaaaaaaa", "t", "b", 1, NULL);
	insert(f->db, "sb-bbbbbbbbbbbb", "t", "b", 2, NULL);
	struct thaw_err *e = NULL;
	assert_int_equal(db_sandbox_delete(f->db, "sb-aaaaaaaaaaaa", &e), 0);
	struct rows rows;
	list(f->db, &rows);
	assert_int_equal(rows.n, 1);
	assert_string_equal(rows.r[0].id, "sb-bbbbbbbbbbbb");
	rows_free(&rows);
	/* Deleting what is gone is not an error. */
	assert_int_equal(db_sandbox_delete(f->db, "sb-aaaaaaaaaaaa", &e), 0);
	assert_null(e);
}

static void test_duplicate_id_is_rejected(void **state)
{
	struct fx *f = *state;
	insert(f->db, "sb-aaaaaaaaaaaa", "t", "b", 1, NULL);
	struct sandbox_row r;
	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "sb-aaaaaaaaaaaa");
	snprintf(r.state, sizeof(r.state), "creating");
	struct thaw_err *e = NULL;
	assert_int_equal(db_sandbox_insert(f->db, &r, &e), -1);
	assert_non_null(e);
	assert_int_equal(e->code, ERR_INTERNAL);
	assert_non_null(strstr(e->msg, "UNIQUE"));
	err_free(e);
}

/* The callback runs after the read: it may write to the database. */
static void delete_each(const struct sandbox_row *r, void *ud)
{
	struct db *db = ud;
	struct thaw_err *e = NULL;
	assert_int_equal(db_sandbox_delete(db, r->id, &e), 0);
}

static void test_each_callback_may_write(void **state)
{
	struct fx *f = *state;
	insert(f->db, "sb-aaaaaaaaaaaa", "t", "b", 1, NULL);
	insert(f->db, "sb-bbbbbbbbbbbb", "t", "b", 2, NULL);
	struct thaw_err *e = NULL;
	assert_int_equal(db_sandbox_each(f->db, delete_each, f->db, &e), 0);
	struct rows rows;
	list(f->db, &rows);
	assert_int_equal(rows.n, 0);
}

static void test_build_in_use_counts_matching_rows(void **state)
{
	struct fx *f = *state;
	insert(f->db, "sb-aaaaaaaaaaaa", "py", "b1", 1, NULL);
	insert(f->db, "sb-bbbbbbbbbbbb", "py", "b1", 2, NULL);
	insert(f->db, "sb-cccccccccccc", "py", "b2", 3, NULL);
	insert(f->db, "sb-dddddddddddd", "node", "b1", 4, NULL);
	struct thaw_err *e = NULL;
	int n = -1;
	assert_int_equal(db_build_in_use(f->db, "py", "b1", &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(db_build_in_use(f->db, "py", "b2", &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(db_build_in_use(f->db, "node", "b2", &n, &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(db_sandbox_delete(f->db, "sb-aaaaaaaaaaaa", &e), 0);
	assert_int_equal(db_build_in_use(f->db, "py", "b1", &n, &e), 0);
	assert_int_equal(n, 1);
	assert_null(e);
}

static struct template_row trow(const char *name, const char *build, char hexdigit, int64_t at)
{
	struct template_row t;
	memset(&t, 0, sizeof(t));
	snprintf(t.name, sizeof(t.name), "%s", name);
	snprintf(t.build_id, sizeof(t.build_id), "%s", build);
	memset(t.meta_sha256, hexdigit, 64);
	t.meta_sha256[64] = '\0';
	t.created_at = at;
	return t;
}

static void test_template_put_get_and_upsert(void **state)
{
	struct fx *f = *state;
	struct thaw_err *e = NULL;
	struct template_row t = trow("code-interpreter", "20261128T011455-3k9d", 'a', 1000);
	snprintf(t.owner, sizeof(t.owner), "alice");
	assert_int_equal(db_template_put(f->db, &t, &e), 0);
	struct template_row got;
	memset(&got, 0, sizeof(got));
	assert_int_equal(db_template_get(f->db, "code-interpreter", &got, &e), 0);
	assert_string_equal(got.name, "code-interpreter");
	assert_string_equal(got.build_id, "20261128T011455-3k9d");
	assert_string_equal(got.meta_sha256, t.meta_sha256);
	assert_true(got.created_at == 1000);
	assert_string_equal(got.owner, "alice");

	/* A new bake of the same name replaces the row, owner included
	 * (a bake is shared). */
	struct template_row t2 = trow("code-interpreter", "20261129T000000-zzzz", 'b', 2000);
	t2.owner[0] = '\0';
	assert_int_equal(db_template_put(f->db, &t2, &e), 0);
	assert_int_equal(db_template_get(f->db, "code-interpreter", &got, &e), 0);
	assert_string_equal(got.build_id, "20261129T000000-zzzz");
	assert_string_equal(got.meta_sha256, t2.meta_sha256);
	assert_true(got.created_at == 2000);
	assert_string_equal(got.owner, "");
	assert_null(e);
}

static void test_unknown_template_is_not_found(void **state)
{
	struct fx *f = *state;
	struct thaw_err *e = NULL;
	struct template_row got;
	assert_int_equal(db_template_get(f->db, "nope", &got, &e), -1);
	assert_non_null(e);
	assert_int_equal(e->code, ERR_NOT_FOUND);
	assert_non_null(strstr(e->msg, "nope"));
	err_free(e);
}

static void collect_names(const struct template_row *t, void *ud)
{
	struct buf *b = ud;
	buf_printf(b, "%s;", t->name);
}

static void test_template_each_is_sorted_by_name(void **state)
{
	struct fx *f = *state;
	struct thaw_err *e = NULL;
	struct template_row a = trow("zeta", "b", 'a', 1), b = trow("alpha", "b", 'b', 2),
			    c = trow("mid", "b", 'c', 3);
	assert_int_equal(db_template_put(f->db, &a, &e), 0);
	assert_int_equal(db_template_put(f->db, &b, &e), 0);
	assert_int_equal(db_template_put(f->db, &c, &e), 0);
	struct buf names = { 0 };
	assert_int_equal(db_template_each(f->db, collect_names, &names, &e), 0);
	assert_string_equal(buf_cstr(&names), "alpha;mid;zeta;");
	buf_free(&names);
}

static void test_data_persists_across_reopen(void **state)
{
	struct fx *f = *state;
	struct thaw_err *e = NULL;
	insert(f->db, "sb-aaaaaaaaaaaa", "py", "b1", 10, "{\"k\":1}");
	assert_int_equal(db_sandbox_set_running(f->db, "sb-aaaaaaaaaaaa", 77, 88, 3, "{}", &e), 0);
	struct template_row t = trow("py", "b1", 'f', 5);
	assert_int_equal(db_template_put(f->db, &t, &e), 0);
	db_close(f->db);
	f->db = NULL;

	assert_int_equal(db_open(f->path, &f->db, &e), 0);
	struct rows rows;
	list(f->db, &rows);
	assert_int_equal(rows.n, 1);
	assert_string_equal(rows.r[0].id, "sb-aaaaaaaaaaaa");
	assert_string_equal(rows.r[0].state, "running");
	assert_string_equal(rows.r[0].metadata, "{\"k\":1}");
	assert_true(rows.r[0].vmm_pid == 77);
	assert_true(rows.r[0].vmm_start_ticks == 88);
	rows_free(&rows);
	struct template_row got;
	assert_int_equal(db_template_get(f->db, "py", &got, &e), 0);
	assert_string_equal(got.meta_sha256, t.meta_sha256);
	assert_null(e);
}

static void add_index(uint32_t index, void *ud)
{
	struct buf *b = ud;
	buf_printf(b, "%u,", index);
}

static void test_slots_are_recorded_and_freed(void **state)
{
	struct fx *f = *state;
	struct thaw_err *e = NULL;
	assert_int_equal(db_slot_insert(f->db, 7, &e), 0);
	assert_int_equal(db_slot_insert(f->db, 2, &e), 0);
	assert_int_equal(db_slot_insert(f->db, 7, &e), 0); /* idempotent */
	assert_int_equal(db_slot_insert(f->db, 16383, &e), 0);
	assert_int_equal(db_slot_delete(f->db, 2, &e), 0);
	struct buf b = { 0 };
	assert_int_equal(db_slot_each(f->db, add_index, &b, &e), 0);
	assert_string_equal(buf_cstr(&b), "7,16383,");
	buf_free(&b);
	/* A reopened database still knows which /30s are taken. */
	db_close(f->db);
	f->db = NULL;
	assert_int_equal(db_open(f->path, &f->db, &e), 0);
	assert_int_equal(db_slot_each(f->db, add_index, &b, &e), 0);
	assert_string_equal(buf_cstr(&b), "7,16383,");
	buf_free(&b);
	assert_null(e);
}

/* A database written by the first schema (no slot column, no slots
 * table, user_version 1) is migrated in place, keeping its rows. */
static void test_version_1_database_is_migrated(void **state)
{
	struct fx *f = *state;
	db_close(f->db);
	f->db = NULL;
	unlink(f->path);
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open(f->path, &h), SQLITE_OK);
	const char *v1 =
		"CREATE TABLE templates (name TEXT PRIMARY KEY, build_id TEXT NOT NULL,"
		" meta_sha256 TEXT NOT NULL, created_at INTEGER NOT NULL);"
		"CREATE TABLE sandboxes (id TEXT PRIMARY KEY, template TEXT NOT NULL,"
		" build_id TEXT NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL,"
		" timeout_at INTEGER NOT NULL DEFAULT 0, metadata TEXT NOT NULL DEFAULT '{}',"
		" vmm_pid INTEGER NOT NULL DEFAULT 0, vmm_start_ticks INTEGER NOT NULL DEFAULT 0,"
		" timings TEXT, reason TEXT);"
		"INSERT INTO sandboxes (id, template, build_id, state, created_at)"
		" VALUES ('sb-oldoldoldold', 't', 'b', 'running', 5);"
		"PRAGMA user_version=1;";
	assert_int_equal(sqlite3_exec(h, v1, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	struct thaw_err *e = NULL;
	assert_int_equal(db_open(f->path, &f->db, &e), 0);
	assert_null(e);
	struct rows rows;
	list(f->db, &rows);
	assert_int_equal(rows.n, 1);
	assert_string_equal(rows.r[0].id, "sb-oldoldoldold");
	assert_true(rows.r[0].slot == -1);
	rows_free(&rows);
	assert_int_equal(db_slot_insert(f->db, 1, &e), 0);
}

/* Pause records the image and drops VMM, slot and deadline; resume
 * brings them back and forgets the pause time. */
static void test_pause_then_resume_rows(void **state)
{
	struct fx *f = *state;
	insert(f->db, "sb-aaaaaaaaaaaa", "t", "b", 1, NULL);
	struct thaw_err *e = NULL;
	assert_int_equal(db_sandbox_set_running(f->db, "sb-aaaaaaaaaaaa", 42, 7, 3, NULL, &e), 0);
	assert_int_equal(db_sandbox_set_paused(f->db, "sb-aaaaaaaaaaaa", "img-1", 1000, &e), 0);
	struct sandbox_row r;
	assert_int_equal(db_sandbox_get(f->db, "sb-aaaaaaaaaaaa", &r, &e), 0);
	assert_string_equal(r.state, "paused");
	assert_string_equal(r.image, "img-1");
	assert_true(r.paused_at == 1000);
	assert_true(r.vmm_pid == 0);
	assert_true(r.slot == -1);
	assert_true(r.timeout_at == 0);
	sandbox_row_free(&r);
	int n = -1;
	assert_int_equal(db_image_in_use(f->db, "img-1", &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(db_sandbox_set_resumed(f->db, "sb-aaaaaaaaaaaa", 43, 8, 5, 2000, &e), 0);
	assert_int_equal(db_sandbox_get(f->db, "sb-aaaaaaaaaaaa", &r, &e), 0);
	assert_string_equal(r.state, "running");
	assert_string_equal(r.image, "img-1"); /* its memory still comes from there */
	assert_true(r.paused_at == 0);
	assert_true(r.vmm_pid == 43);
	assert_true(r.slot == 5);
	assert_true(r.timeout_at == 2000);
	sandbox_row_free(&r);
	assert_null(e);
}

/* Env, network policy and Idempotency-Key: NULL ("" for the key) when
 * not given, kept as given, the policy replaced on its own. */
static void test_network_and_env_rows(void **state)
{
	struct fx *f = *state;
	insert(f->db, "sb-aaaaaaaaaaaa", "t", "b", 1, NULL);
	struct thaw_err *e = NULL;
	struct sandbox_row r;
	assert_int_equal(db_sandbox_get(f->db, "sb-aaaaaaaaaaaa", &r, &e), 0);
	assert_null(r.network);
	assert_null(r.env);
	assert_string_equal(r.idem, "");
	sandbox_row_free(&r);
	struct sandbox_row w;
	memset(&w, 0, sizeof(w));
	snprintf(w.id, sizeof(w.id), "sb-bbbbbbbbbbbb");
	snprintf(w.state, sizeof(w.state), "creating");
	w.slot = -1;
	w.created_at = 2; /* listed after the first */
	w.network = "{\"internet\":false,\"allow\":[],\"deny\":[]}";
	w.env = "{\"A\":\"1\"}";
	snprintf(w.idem, sizeof(w.idem), "retry-1");
	assert_int_equal(db_sandbox_insert(f->db, &w, &e), 0);
	assert_int_equal(db_sandbox_get(f->db, "sb-bbbbbbbbbbbb", &r, &e), 0);
	assert_string_equal(r.network, w.network);
	assert_string_equal(r.env, "{\"A\":\"1\"}");
	assert_string_equal(r.idem, "retry-1");
	sandbox_row_free(&r);
	assert_int_equal(
		db_sandbox_set_network(f->db, "sb-bbbbbbbbbbbb", "{\"internet\":true}", &e), 0);
	struct rows rows;
	list(f->db, &rows);
	assert_int_equal(rows.n, 2);
	assert_string_equal(rows.r[1].network, "{\"internet\":true}");
	assert_string_equal(rows.r[1].env, "{\"A\":\"1\"}"); /* untouched */
	assert_null(rows.r[0].network);
	rows_free(&rows);
	assert_null(e);
}

static void test_get_unknown_sandbox_is_not_found(void **state)
{
	struct fx *f = *state;
	struct sandbox_row r;
	struct thaw_err *e = NULL;
	assert_int_equal(db_sandbox_get(f->db, "sb-nonenonenone", &r, &e), -1);
	assert_non_null(e);
	assert_int_equal(e->code, ERR_NOT_FOUND);
	err_free(e);
}

static void count_build(const struct build_row *b, void *ud)
{
	(void)b;
	(*(int *)ud)++;
}

static void test_builds_put_get_each_delete(void **state)
{
	struct fx *f = *state;
	struct build_row b = { .created_at = 9 };
	snprintf(b.build_id, sizeof(b.build_id), "img-1");
	snprintf(b.kind, sizeof(b.kind), "pause");
	snprintf(b.meta_sha256, sizeof(b.meta_sha256), "%064d", 0);
	struct thaw_err *e = NULL;
	assert_int_equal(db_build_put(f->db, &b, &e), 0);
	snprintf(b.build_id, sizeof(b.build_id), "bld-1");
	snprintf(b.template_name, sizeof(b.template_name), "t");
	snprintf(b.kind, sizeof(b.kind), "bake");
	assert_int_equal(db_build_put(f->db, &b, &e), 0);
	struct build_row got;
	assert_int_equal(db_build_get(f->db, "bld-1", &got, &e), 0);
	assert_string_equal(got.template_name, "t");
	assert_string_equal(got.kind, "bake");
	assert_true(got.created_at == 9);
	int n = 0;
	assert_int_equal(db_build_each(f->db, "pause", count_build, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(db_build_delete(f->db, "img-1", &e), 0);
	assert_int_equal(db_build_get(f->db, "img-1", &got, &e), -1);
	assert_int_equal(e->code, ERR_NOT_FOUND);
	err_free(e);
}

static void test_template_in_use_and_delete(void **state)
{
	struct fx *f = *state;
	struct template_row t = { .created_at = 1 };
	snprintf(t.name, sizeof(t.name), "t");
	snprintf(t.build_id, sizeof(t.build_id), "b");
	snprintf(t.meta_sha256, sizeof(t.meta_sha256), "%064d", 0);
	struct thaw_err *e = NULL;
	assert_int_equal(db_template_put(f->db, &t, &e), 0);
	insert(f->db, "sb-aaaaaaaaaaaa", "t", "b", 1, NULL);
	int n = -1;
	assert_int_equal(db_template_in_use(f->db, "t", &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(db_template_in_use(f->db, "u", &n, &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(db_template_delete(f->db, "t", &e), 0);
	struct template_row got;
	assert_int_equal(db_template_get(f->db, "t", &got, &e), -1);
	err_free(e);
}

/* A version 2 database (slots, no lifecycle columns) gains them with
 * the defaults a sandbox of that time had. */
static void test_version_2_database_is_migrated(void **state)
{
	struct fx *f = *state;
	db_close(f->db);
	f->db = NULL;
	unlink(f->path);
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open(f->path, &h), SQLITE_OK);
	const char *v2 =
		"CREATE TABLE templates (name TEXT PRIMARY KEY, build_id TEXT NOT NULL,"
		" meta_sha256 TEXT NOT NULL, created_at INTEGER NOT NULL);"
		"CREATE TABLE sandboxes (id TEXT PRIMARY KEY, template TEXT NOT NULL,"
		" build_id TEXT NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL,"
		" timeout_at INTEGER NOT NULL DEFAULT 0, metadata TEXT NOT NULL DEFAULT '{}',"
		" vmm_pid INTEGER NOT NULL DEFAULT 0, vmm_start_ticks INTEGER NOT NULL DEFAULT 0,"
		" timings TEXT, reason TEXT, slot INTEGER NOT NULL DEFAULT -1);"
		"CREATE TABLE slots (idx INTEGER PRIMARY KEY);"
		"INSERT INTO sandboxes (id, template, build_id, state, created_at, timeout_at,"
		" slot) VALUES ('sb-twotwotwotwo', 't', 'b', 'running', 5, 305, 4);"
		"INSERT INTO templates VALUES ('t', 'b', '00', 1);"
		"PRAGMA user_version=2;";
	assert_int_equal(sqlite3_exec(h, v2, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	struct thaw_err *e = NULL;
	assert_int_equal(db_open(f->path, &f->db, &e), 0);
	assert_null(e);
	struct sandbox_row r;
	assert_int_equal(db_sandbox_get(f->db, "sb-twotwotwotwo", &r, &e), 0);
	assert_true(r.slot == 4);
	assert_string_equal(r.on_timeout, "delete");
	assert_string_equal(r.parent, "");
	assert_string_equal(r.image, "");
	assert_false(r.auto_resume);
	assert_string_equal(r.owner, "default"); /* rows from before keys files */
	sandbox_row_free(&r);
	int n = 0;
	assert_int_equal(db_build_each(f->db, NULL, count_build, &n, &e), 0);
	assert_null(e);
}

/* A database from a newer thawd is refused, not half-understood. */
static void test_newer_schema_is_refused(void **state)
{
	struct fx *f = *state;
	db_close(f->db);
	f->db = NULL;
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open(f->path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "PRAGMA user_version=99;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	struct thaw_err *e = NULL;
	assert_int_equal(db_open(f->path, &f->db, &e), -1);
	assert_non_null(e);
	assert_non_null(strstr(e->msg, "99"));
	err_free(e);
}

static void test_open_in_a_missing_directory_fails(void **state)
{
	struct fx *f = *state;
	char *path = xasprintf("%s/missing/thaw.db", f->dir);
	struct db *db = (struct db *)0x1;
	struct thaw_err *e = NULL;
	assert_int_equal(db_open(path, &db, &e), -1);
	assert_non_null(e);
	assert_non_null(strstr(e->msg, path));
	assert_ptr_equal(db, (struct db *)0x1); /* untouched on failure */
	err_free(e);
	free(path);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define SLOT_TESTS                                                                                 \
	T(test_slots_are_recorded_and_freed), T(test_version_1_database_is_migrated),              \
		T(test_newer_schema_is_refused),
#define LIFECYCLE_TESTS                                                                            \
	T(test_pause_then_resume_rows), T(test_get_unknown_sandbox_is_not_found),                  \
		T(test_network_and_env_rows), T(test_builds_put_get_each_delete),                  \
		T(test_template_in_use_and_delete), T(test_version_2_database_is_migrated),

int main(void)
{
	const struct CMUnitTest tests[] = { T(test_insert_then_each_returns_every_field),
					    T(test_missing_metadata_is_stored_as_an_empty_object),
					    T(test_each_returns_rows_in_creation_order),
					    T(test_each_keeps_creation_order_within_one_second),
					    T(test_set_running_records_the_vmm),
					    T(test_set_state_and_reason),
					    T(test_delete_removes_only_that_row),
					    T(test_duplicate_id_is_rejected),
					    T(test_each_callback_may_write),
					    T(test_build_in_use_counts_matching_rows),
					    T(test_template_put_get_and_upsert),
					    T(test_unknown_template_is_not_found),
					    T(test_template_each_is_sorted_by_name),
					    T(test_data_persists_across_reopen),
					    T(test_open_in_a_missing_directory_fails),
					    SLOT_TESTS LIFECYCLE_TESTS };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
