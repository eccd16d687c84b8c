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
#include "fsutil.h"
#include "ids.h"
#include "log.h"
#include "sha256.h"
#include "store/db.h"

#define TMP_PREFIX ".tmp-"

/* What a file looked like when we verified it; a change means verify
 * again. ctime cannot be set from user space, unlike mtime. */
struct file_sig {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec ctime;
};

struct cached {
	struct template *t;
	char meta_sha256[SHA256_HEX_LEN + 1];
	struct file_sig meta_sig, sigs[MF_COUNT];
};

struct baking {
	char name[64];
	char stage[128];
};

struct catalog {
	pthread_mutex_t lock;
	pthread_cond_t bakes_changed;
	struct db *db;
	char *root;
	struct cached *cache;
	size_t ncache;
	struct baking *bakes;
	size_t nbakes;
};

static int sig_of(const char *path, struct file_sig *s)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	*s = (struct file_sig){ st.st_dev, st.st_ino, st.st_size, st.st_ctim };
	return 0;
}

static int sig_equal(const struct file_sig *a, const struct file_sig *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

int catalog_open(struct db *db, const char *store_root, struct catalog **out,
		 struct thaw_err **err)
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

static void template_free(struct template *t)
{
	free(t->dir);
	for (int i = 0; i < MF_COUNT; i++)
		free(t->paths[i]);
	free(t);
}

void catalog_close(struct catalog *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->ncache; i++)
		if (--c->cache[i].t->refs == 0)
			template_free(c->cache[i].t);
	free(c->cache);
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

static int64_t ctime_ns(const struct file_sig *s)
{
	return s->ctime.tv_sec * 1000000000ll + s->ctime.tv_nsec;
}

/* Size always; content when the file is small (device state, every
 * load) or was written after the bake (its ctime moved): hashing the
 * memory file and the disk on every load would cost seconds. */
static int verify_file(const struct template *t, enum meta_file_role role, struct file_sig *sig,
		       struct thaw_err **err)
{
	const struct meta_file *mf = &t->meta.files[role];
	const char *name = meta_file_role_name(role);
	if (sig_of(t->paths[role], sig) < 0)
		return err_set(err, ERR_CORRUPT, "%s file is missing", name);
	if ((uint64_t)sig->size != mf->size)
		return err_set(err, ERR_CORRUPT, "%s file has %lld bytes, metadata says %llu", name,
			       (long long)sig->size, (unsigned long long)mf->size);
	bool small = role == MF_STATE || role == MF_INITRD || role == MF_KERNEL;
	if (!small && ctime_ns(sig) == mf->ctime_ns)
		return 0;
	char sum[SHA256_HEX_LEN + 1];
	if (sha256_file(t->paths[role], sum, err) < 0)
		return -1;
	if (strcmp(sum, mf->sha256) != 0)
		return err_set(err, ERR_CORRUPT, "%s file does not match its checksum", name);
	return 0;
}

/* Loads and verifies one build: meta.json against the checksum the
 * database holds, every artifact's size, and the device state's
 * checksum (small; memory and disk are checked at bake). */
static int load_build(struct catalog *c, const struct template_row *row, struct cached *out,
		      struct thaw_err **err)
{
	struct template *t = xcalloc(1, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", row->name);
	snprintf(t->build_id, sizeof(t->build_id), "%s", row->build_id);
	t->dir = xasprintf("%s/%s/%s", c->root, row->name, row->build_id);
	for (int i = 0; i < MF_COUNT; i++)
		t->paths[i] = xasprintf("%s/%s", t->dir, meta_file_name((enum meta_file_role)i));
	_cleanup_free_ char *meta_path = xasprintf("%s/meta.json", t->dir);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	char sum[SHA256_HEX_LEN + 1];
	if (sig_of(meta_path, &out->meta_sig) < 0 ||
	    fs_read_file(meta_path, META_MAX_BYTES, &text, &len, err) < 0) {
		err_set(err, ERR_CORRUPT, "meta.json is missing or unreadable");
		goto fail;
	}
	sha256_hex(text, len, sum);
	if (strcmp(sum, row->meta_sha256) != 0) {
		err_set(err, ERR_CORRUPT, "meta.json does not match its recorded checksum");
		goto fail;
	}
	if (meta_parse(text, len, &t->meta, err) < 0)
		goto fail;
	if (strcmp(t->meta.build_id, row->build_id) != 0 || strcmp(t->meta.name, row->name) != 0) {
		err_set(err, ERR_CORRUPT, "meta.json describes another build");
		goto fail;
	}
	for (int i = 0; i < MF_COUNT; i++)
		if (verify_file(t, (enum meta_file_role)i, &out->sigs[i], err) < 0)
			goto fail;
	snprintf(out->meta_sha256, sizeof(out->meta_sha256), "%s", row->meta_sha256);
	t->refs = 1; /* the cache's reference */
	out->t = t;
	return 0;
fail:
	template_free(t);
	return err_wrap(err, "template %s (build %s) is corrupt; bake it again", row->name,
			row->build_id);
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
		template_free(e->t);
	*e = c->cache[--c->ncache];
}

static int still_valid(const struct cached *e, const struct template_row *row)
{
	if (strcmp(e->t->build_id, row->build_id) != 0 ||
	    strcmp(e->meta_sha256, row->meta_sha256) != 0)
		return 0;
	struct file_sig s;
	_cleanup_free_ char *meta_path = xasprintf("%s/meta.json", e->t->dir);
	if (sig_of(meta_path, &s) < 0 || !sig_equal(&s, &e->meta_sig))
		return 0;
	for (int i = 0; i < MF_COUNT; i++)
		if (sig_of(e->t->paths[i], &s) < 0 || !sig_equal(&s, &e->sigs[i]))
			return 0;
	return 1;
}

int catalog_get(struct catalog *c, const char *name, struct template **out,
		struct thaw_err **err)
{
	struct template_row row;
	if (db_template_get(c->db, name, &row, err) < 0)
		return -1;
	pthread_mutex_lock(&c->lock);
	struct cached *e = cache_find(c, name);
	if (e && !still_valid(e, &row)) {
		cache_drop(c, e);
		e = NULL;
	}
	int rc = 0;
	if (!e) {
		struct cached fresh;
		memset(&fresh, 0, sizeof(fresh));
		rc = load_build(c, &row, &fresh, err);
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

void catalog_put(struct catalog *c, struct template *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&c->lock);
	if (--t->refs == 0)
		template_free(t);
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

void catalog_bake_stage(struct catalog *c, const char *name, const char *stage)
{
	pthread_mutex_lock(&c->lock);
	struct baking *b = bake_find(c, name);
	if (b)
		snprintf(b->stage, sizeof(b->stage), "%s", stage);
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
		    const char *meta_sha256, struct thaw_err **err)
{
	_cleanup_free_ char *parent = catalog_template_dir(c, m->name);
	_cleanup_free_ char *final = xasprintf("%s/%s", parent, m->build_id);
	if (fs_fsync_dir(tmp_dir, err) < 0)
		return -1;
	if (rename(tmp_dir, final) < 0)
		return err_sys(err, "publishing %s", final);
	if (fs_fsync_dir(parent, err) < 0)
		return -1;
	struct template_row row = { .created_at = m->created_at };
	snprintf(row.name, sizeof(row.name), "%s", m->name);
	snprintf(row.build_id, sizeof(row.build_id), "%s", m->build_id);
	snprintf(row.meta_sha256, sizeof(row.meta_sha256), "%s", meta_sha256);
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
		if (fs_rm_rf(victim, &err) < 0)
			log_warn("template.gc", "path=%s error=\"%s\"", victim, err_msg(err));
		else
			log_info("template.gc", "removed=%s", victim);
	}
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

int catalog_list(struct catalog *c, struct template_info **out, size_t *n,
		 struct thaw_err **err)
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
	}
	pthread_mutex_unlock(&c->lock);
	*out = lc.items;
	*n = lc.n;
	return 0;
}
