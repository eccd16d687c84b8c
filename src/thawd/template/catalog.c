#include "catalog.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "db/db.h"
#include "fsutil.h"
#include "ids.h"
#include "log.h"
#include "sha256.h"

#define TMP_PREFIX ".tmp-"

struct cached {
	struct template *t;
	char meta_sha256[SHA256_HEX_LEN + 1];
	struct build_sigs sigs;
};

/* A build found corrupt, and what its files looked like just before:
 * while none of them changes the verdict stands, so a damaged template
 * costs a stat of its files per create, listing and pool round instead
 * of hashing its memory file and disk again each time. */
struct verdict {
	char name[64];
	char build_id[48];
	char meta_sha256[SHA256_HEX_LEN + 1];
	struct build_sigs sigs;
	char msg[sizeof(((struct thaw_err *)0)->msg)];
};

struct baking {
	char name[64];
	char stage[128];
	int step; /* of BAKE_STEPS (ops/bake.h); 0 before the first */
};

struct catalog {
	pthread_mutex_t lock;
	pthread_cond_t bakes_changed;
	struct db *db;
	char *root;
	struct cached *cache;
	size_t ncache;
	struct verdict *corrupt; /* at most one per template */
	size_t ncorrupt;
	struct baking *bakes;
	size_t nbakes;
};

int catalog_open(struct db *db, const char *store_root, struct catalog **out, struct thaw_err **err)
{
	struct catalog *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->bakes_changed, NULL);
	c->db = db;
	c->root = xasprintf("%s/templates", store_root);
	if (fs_mkdir_p(c->root, 0700, err) < 0) {
		catalog_close(c);
		return -1;
	}
	*out = c;
	return 0;
}

void catalog_close(struct catalog *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->ncache; i++)
		if (--c->cache[i].t->refs == 0)
			build_free(c->cache[i].t);
	free(c->cache);
	free(c->corrupt);
	free(c->bakes);
	free(c->root);
	pthread_cond_destroy(&c->bakes_changed);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

char *catalog_template_dir(const struct catalog *c, const char *name)
{
	return xasprintf("%s/%s", c->root, name);
}

static struct verdict *verdict_find(struct catalog *c, const char *name)
{
	for (size_t i = 0; i < c->ncorrupt; i++)
		if (strcmp(c->corrupt[i].name, name) == 0)
			return &c->corrupt[i];
	return NULL;
}

/* Records (err set) or forgets (err NULL) what loading row found. */
static void verdict_note(struct catalog *c, const struct template_row *row,
			 const struct build_sigs *sigs, const struct thaw_err *err)
{
	struct verdict *v = verdict_find(c, row->name);
	if (!err || err->code != ERR_CORRUPT) {
		if (v)
			*v = c->corrupt[--c->ncorrupt];
		return;
	}
	if (!v) {
		c->corrupt = xrealloc(c->corrupt, (c->ncorrupt + 1) * sizeof(*c->corrupt));
		v = &c->corrupt[c->ncorrupt++];
	}
	snprintf(v->name, sizeof(v->name), "%s", row->name);
	snprintf(v->build_id, sizeof(v->build_id), "%s", row->build_id);
	snprintf(v->meta_sha256, sizeof(v->meta_sha256), "%s", row->meta_sha256);
	v->sigs = *sigs;
	snprintf(v->msg, sizeof(v->msg), "%s", err->msg);
}

static int verify_build(struct catalog *c, const struct template_row *row, const char *dir,
			struct cached *out, struct thaw_err **err)
{
	struct build_sigs before;
	build_stat(dir, &before);
	struct verdict *v = verdict_find(c, row->name);
	if (v && strcmp(v->build_id, row->build_id) == 0 &&
	    strcmp(v->meta_sha256, row->meta_sha256) == 0 && build_sigs_equal(&v->sigs, &before))
		return err_set(err, ERR_CORRUPT, "%s", v->msg);
	_cleanup_err_ struct thaw_err *why = NULL;
	int rc = build_load(dir, row->name, row->build_id, row->meta_sha256, &out->t, &out->sigs,
			    &why);
	verdict_note(c, row, &before, why);
	if (rc < 0 && err && !*err)
		*err = steal_pointer(&why);
	return rc;
}

static int load_build(struct catalog *c, const struct template_row *row, struct cached *out,
		      struct thaw_err **err)
{
	_cleanup_free_ char *dir = xasprintf("%s/%s/%s", c->root, row->name, row->build_id);
	if (verify_build(c, row, dir, out, err) < 0)
		return err_wrap(err, "template %s (build %s) is corrupt; bake it again", row->name,
				row->build_id);
	snprintf(out->meta_sha256, sizeof(out->meta_sha256), "%s", row->meta_sha256);
	return 0;
}

static struct cached *cache_find(struct catalog *c, const char *name)
{
	for (size_t i = 0; i < c->ncache; i++)
		if (strcmp(c->cache[i].t->name, name) == 0)
			return &c->cache[i];
	return NULL;
}

static void cache_drop(struct catalog *c, struct cached *e)
{
	if (--e->t->refs == 0)
		build_free(e->t);
	*e = c->cache[--c->ncache];
}

static int still_valid(const struct cached *e, const struct template_row *row)
{
	return strcmp(e->t->build_id, row->build_id) == 0 &&
	       strcmp(e->meta_sha256, row->meta_sha256) == 0 && build_unchanged(e->t, &e->sigs);
}

/* The cached (or freshly verified) build that row names. */
static int get_row_build(struct catalog *c, const struct template_row *row, struct template **out,
			 struct thaw_err **err)
{
	const char *name = row->name;
	pthread_mutex_lock(&c->lock);
	struct cached *e = cache_find(c, name);
	if (e && !still_valid(e, row)) {
		cache_drop(c, e);
		e = NULL;
	}
	int rc = 0;
	if (!e) {
		struct cached fresh;
		memset(&fresh, 0, sizeof(fresh));
		rc = load_build(c, row, &fresh, err);
		if (rc == 0) {
			c->cache = xrealloc(c->cache, (c->ncache + 1) * sizeof(*c->cache));
			c->cache[c->ncache++] = fresh;
			e = &c->cache[c->ncache - 1];
		}
	}
	if (rc == 0) {
		e->t->refs++;
		*out = e->t;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int catalog_get(struct catalog *c, const char *name, struct template **out, struct thaw_err **err)
{
	return catalog_get_visible(c, name, NULL, out, err);
}

int catalog_get_visible(struct catalog *c, const char *name, const char *viewer,
			struct template **out, struct thaw_err **err)
{
	/* One read of the row: the owner checked is the build's. */
	struct template_row row;
	if (db_template_get(c->db, name, &row, err) < 0)
		return -1;
	if (viewer && row.owner[0] && strcmp(row.owner, viewer) != 0)
		return err_set(err, ERR_NOT_FOUND, "template %s does not exist", name);
	return get_row_build(c, &row, out, err);
}

void catalog_put(struct catalog *c, struct template *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&c->lock);
	if (--t->refs == 0)
		build_free(t);
	pthread_mutex_unlock(&c->lock);
}

static struct baking *bake_find(struct catalog *c, const char *name)
{
	for (size_t i = 0; i < c->nbakes; i++)
		if (strcmp(c->bakes[i].name, name) == 0)
			return &c->bakes[i];
	return NULL;
}

int catalog_bake_begin(struct catalog *c, const char *name, struct thaw_err **err)
{
	pthread_mutex_lock(&c->lock);
	int rc = 0;
	if (bake_find(c, name)) {
		rc = err_set(err, ERR_CONFLICT, "template %s is already being baked", name);
	} else {
		c->bakes = xrealloc(c->bakes, (c->nbakes + 1) * sizeof(*c->bakes));
		struct baking *b = &c->bakes[c->nbakes++];
		snprintf(b->name, sizeof(b->name), "%s", name);
		snprintf(b->stage, sizeof(b->stage), "starting");
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void catalog_bake_stage(struct catalog *c, const char *name, const char *stage, int step)
{
	pthread_mutex_lock(&c->lock);
	struct baking *b = bake_find(c, name);
	if (b) {
		snprintf(b->stage, sizeof(b->stage), "%s", stage);
		b->step = step;
	}
	pthread_mutex_unlock(&c->lock);
}

void catalog_bake_end(struct catalog *c, const char *name)
{
	pthread_mutex_lock(&c->lock);
	struct baking *b = bake_find(c, name);
	if (b)
		*b = c->bakes[--c->nbakes];
	pthread_cond_broadcast(&c->bakes_changed);
	pthread_mutex_unlock(&c->lock);
}

void catalog_wait_bakes(struct catalog *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->nbakes > 0)
		pthread_cond_wait(&c->bakes_changed, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

bool catalog_bake_status(struct catalog *c, const char *name, char *buf, size_t size)
{
	pthread_mutex_lock(&c->lock);
	struct baking *b = bake_find(c, name);
	if (b)
		snprintf(buf, size, "%s", b->stage);
	pthread_mutex_unlock(&c->lock);
	return b != NULL;
}

int catalog_publish(struct catalog *c, const char *tmp_dir, const struct template_meta *m,
		    const char *meta_sha256, const char *owner, struct thaw_err **err)
{
	_cleanup_free_ char *parent = catalog_template_dir(c, m->name);
	_cleanup_free_ char *final = xasprintf("%s/%s", parent, m->build_id);
	if (fs_fsync_dir(tmp_dir, err) < 0)
		return -1;
	if (rename(tmp_dir, final) < 0)
		return err_sys(err, "publishing %s", final);
	if (fs_fsync_dir(parent, err) < 0)
		return -1;
	/* The build first: a crash before the template points to it leaves
	 * an unused build, which catalog_gc removes. */
	struct build_row b = { .created_at = m->created_at };
	snprintf(b.build_id, sizeof(b.build_id), "%s", m->build_id);
	snprintf(b.template_name, sizeof(b.template_name), "%s", m->name);
	snprintf(b.kind, sizeof(b.kind), "%s", meta_source_name(m->source));
	snprintf(b.meta_sha256, sizeof(b.meta_sha256), "%s", meta_sha256);
	struct template_row row = { .created_at = m->created_at };
	snprintf(row.name, sizeof(row.name), "%s", m->name);
	snprintf(row.build_id, sizeof(row.build_id), "%s", m->build_id);
	snprintf(row.meta_sha256, sizeof(row.meta_sha256), "%s", meta_sha256);
	snprintf(row.owner, sizeof(row.owner), "%s", owner ? owner : "");
	if (db_build_put(c->db, &b, err) < 0)
		return -1;
	return db_template_put(c->db, &row, err);
}

void catalog_gc(struct catalog *c, const char *name)
{
	_cleanup_free_ char *dir = catalog_template_dir(c, name);
	struct template_row row = { 0 };
	int have_current = db_template_get(c->db, name, &row, NULL) == 0;
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	bool baking;
	pthread_mutex_lock(&c->lock);
	baking = bake_find(c, name) != NULL;
	pthread_mutex_unlock(&c->lock);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' && !(strncmp(de->d_name, TMP_PREFIX, 5) == 0 && !baking))
			continue;
		if (have_current && strcmp(de->d_name, row.build_id) == 0)
			continue;
		int users = 0;
		if (db_build_in_use(c->db, name, de->d_name, &users, NULL) < 0 || users > 0)
			continue;
		_cleanup_free_ char *victim = xasprintf("%s/%s", dir, de->d_name);
		_cleanup_err_ struct thaw_err *err = NULL;
		if (fs_rm_rf(victim, &err) < 0) {
			log_warn("template.gc", "path=%s error=\"%s\"", victim, err_msg(err));
			continue;
		}
		log_info("template.gc", "removed=%s", victim);
		if (de->d_name[0] != '.')
			db_build_delete(c->db, de->d_name, NULL);
	}
	/* A deleted template's directory goes once its last build has. */
	if (!have_current)
		rmdir(dir);
}

int catalog_get_build(struct catalog *c, const char *name, const char *build_id,
		      struct template **out, struct thaw_err **err)
{
	struct template_row row;
	if (db_template_get(c->db, name, &row, NULL) == 0 && strcmp(row.build_id, build_id) == 0)
		return catalog_get(c, name, out, err);
	struct build_row b;
	if (db_build_get(c->db, build_id, &b, err) < 0)
		return -1;
	if (strcmp(b.template_name, name) != 0)
		return err_set(err, ERR_CORRUPT, "build %s belongs to template %s, not %s",
			       build_id, b.template_name, name);
	_cleanup_free_ char *dir = xasprintf("%s/%s/%s", c->root, name, build_id);
	struct build_sigs sigs;
	if (build_load(dir, name, build_id, b.meta_sha256, out, &sigs, err) < 0)
		return err_wrap(err, "template %s (build %s) is corrupt", name, build_id);
	return 0;
}

int catalog_delete(struct catalog *c, const char *name, struct thaw_err **err)
{
	struct template_row row;
	if (db_template_get(c->db, name, &row, err) < 0)
		return -1;
	pthread_mutex_lock(&c->lock);
	bool baking = bake_find(c, name) != NULL;
	pthread_mutex_unlock(&c->lock);
	if (baking)
		return err_set(err, ERR_CONFLICT, "template %s is being baked", name);
	int users = 0;
	if (db_template_in_use(c->db, name, &users, err) < 0)
		return -1;
	if (users > 0)
		return err_set(err, ERR_CONFLICT,
			       "template %s is used by %d sandbox(es); delete them first", name,
			       users);
	if (db_template_delete(c->db, name, err) < 0)
		return -1;
	pthread_mutex_lock(&c->lock);
	struct cached *e = cache_find(c, name);
	if (e)
		cache_drop(c, e);
	pthread_mutex_unlock(&c->lock);
	catalog_gc(c, name);
	log_notice("template.deleted", "template=%s build=%s", name, row.build_id);
	return 0;
}

void catalog_gc_all(struct catalog *c)
{
	_cleanup_closedir_ DIR *d = opendir(c->root);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)))
		if (id_valid_template(de->d_name))
			catalog_gc(c, de->d_name);
}

struct list_ctx {
	struct catalog *c;
	struct template_info *items;
	size_t n;
};

static void list_one(const struct template_row *row, void *ud)
{
	struct list_ctx *lc = ud;
	lc->items = xrealloc(lc->items, (lc->n + 1) * sizeof(*lc->items));
	struct template_info *ti = &lc->items[lc->n++];
	memset(ti, 0, sizeof(*ti));
	snprintf(ti->name, sizeof(ti->name), "%s", row->name);
	snprintf(ti->build_id, sizeof(ti->build_id), "%s", row->build_id);
	snprintf(ti->owner, sizeof(ti->owner), "%s", row->owner);
	struct template *t = NULL;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (catalog_get(lc->c, row->name, &t, &err) == 0) {
		snprintf(ti->status, sizeof(ti->status), "ready");
		ti->meta = t->meta;
		catalog_put(lc->c, t);
	} else {
		snprintf(ti->status, sizeof(ti->status), "corrupt");
		snprintf(ti->detail, sizeof(ti->detail), "%s", err_msg(err));
	}
}

int catalog_list(struct catalog *c, struct template_info **out, size_t *n, struct thaw_err **err)
{
	struct list_ctx lc = { .c = c };
	if (db_template_each(c->db, list_one, &lc, err) < 0) {
		free(lc.items);
		return -1;
	}
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nbakes; i++) {
		struct template_info *ti = NULL;
		for (size_t k = 0; k < lc.n && !ti; k++)
			if (strcmp(lc.items[k].name, c->bakes[i].name) == 0)
				ti = &lc.items[k];
		if (!ti) {
			lc.items = xrealloc(lc.items, (lc.n + 1) * sizeof(*lc.items));
			ti = &lc.items[lc.n++];
			memset(ti, 0, sizeof(*ti));
			snprintf(ti->name, sizeof(ti->name), "%s", c->bakes[i].name);
		}
		/* A re-bake keeps the old build usable: say both. */
		if (strcmp(ti->status, "ready") != 0)
			snprintf(ti->status, sizeof(ti->status), "baking");
		snprintf(ti->detail, sizeof(ti->detail), "baking: %s", c->bakes[i].stage);
		ti->bake_step = c->bakes[i].step;
	}
	pthread_mutex_unlock(&c->lock);
	*out = lc.items;
	*n = lc.n;
	return 0;
}
