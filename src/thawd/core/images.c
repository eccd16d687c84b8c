#include "core/images.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "db/db.h"
#include "fsutil.h"
#include "ids.h"
#include "log.h"

#define TMP_PREFIX ".tmp-"

struct images {
	struct host *h;
	char *root;
	pthread_mutex_t lock; /* guards the pins */
	char (*pins)[48];
	size_t npins;
};

int images_open(struct host *h, struct images **out, struct thaw_err **err)
{
	struct images *im = xcalloc(1, sizeof(*im));
	im->h = h;
	im->root = xasprintf("%s/images", h->store->root);
	pthread_mutex_init(&im->lock, NULL);
	if (fs_mkdir_p(im->root, 0700, err) < 0) {
		images_close(im);
		return -1;
	}
	*out = im;
	return 0;
}

void images_close(struct images *im)
{
	if (!im)
		return;
	free(im->pins);
	free(im->root);
	pthread_mutex_destroy(&im->lock);
	free(im);
}

char *image_dir(struct host *h, const char *id)
{
	return xasprintf("%s/%s", h->images->root, id);
}

void image_pin(struct host *h, const char *id)
{
	struct images *im = h->images;
	pthread_mutex_lock(&im->lock);
	im->pins = xrealloc(im->pins, (im->npins + 1) * sizeof(*im->pins));
	snprintf(im->pins[im->npins++], sizeof(im->pins[0]), "%s", id);
	pthread_mutex_unlock(&im->lock);
}

void image_unpin(struct host *h, const char *id)
{
	struct images *im = h->images;
	pthread_mutex_lock(&im->lock);
	for (size_t i = 0; i < im->npins; i++)
		if (strcmp(im->pins[i], id) == 0) {
			memcpy(im->pins[i], im->pins[--im->npins], sizeof(im->pins[0]));
			break;
		}
	pthread_mutex_unlock(&im->lock);
}

static bool pinned(struct images *im, const char *id)
{
	pthread_mutex_lock(&im->lock);
	bool found = false;
	for (size_t i = 0; i < im->npins && !found; i++)
		found = strcmp(im->pins[i], id) == 0;
	pthread_mutex_unlock(&im->lock);
	return found;
}

int image_begin(struct host *h, char id[48], char **tmp_dir, struct thaw_err **err)
{
	id_new_build(id, 48);
	image_pin(h, id);
	*tmp_dir = xasprintf("%s/" TMP_PREFIX "%s", h->images->root, id);
	if (fs_mkdir_p(*tmp_dir, 0700, err) < 0) {
		image_abort(h, id, *tmp_dir);
		free(*tmp_dir);
		*tmp_dir = NULL;
		return -1;
	}
	return 0;
}

int image_publish(struct host *h, const char *tmp_dir, const struct template_meta *m,
		  const char *meta_sha256, struct thaw_err **err)
{
	_cleanup_free_ char *final = image_dir(h, m->build_id);
	if (fs_fsync_dir(tmp_dir, err) < 0)
		return -1;
	if (rename(tmp_dir, final) < 0)
		return err_sys(err, "publishing image %s", m->build_id);
	if (fs_fsync_dir(h->images->root, err) < 0)
		return -1;
	struct build_row b = { .created_at = m->created_at };
	snprintf(b.build_id, sizeof(b.build_id), "%s", m->build_id);
	snprintf(b.template_name, sizeof(b.template_name), "%s", m->name);
	snprintf(b.kind, sizeof(b.kind), "%s", meta_source_name(m->source));
	snprintf(b.meta_sha256, sizeof(b.meta_sha256), "%s", meta_sha256);
	return db_build_put(h->db, &b, err);
}

void image_abort(struct host *h, const char *id, const char *tmp_dir)
{
	if (tmp_dir)
		fs_rm_rf(tmp_dir, NULL);
	image_unpin(h, id);
}

int image_load(struct host *h, const char *id, struct template **out, struct thaw_err **err)
{
	struct build_row b;
	if (db_build_get(h->db, id, &b, err) < 0)
		return err_wrap(err, "image %s", id);
	_cleanup_free_ char *dir = image_dir(h, id);
	struct build_sigs sigs;
	if (build_load(dir, NULL, id, b.meta_sha256, out, &sigs, err) < 0)
		return err_wrap(err, "image %s is corrupt", id);
	return 0;
}

static void gc_row(const struct build_row *b, void *ud)
{
	struct host *h = ud;
	int users = 0;
	if (pinned(h->images, b->build_id) ||
	    db_image_in_use(h->db, b->build_id, &users, NULL) < 0 || users > 0)
		return;
	_cleanup_free_ char *dir = image_dir(h, b->build_id);
	_cleanup_err_ struct thaw_err *err = NULL;
	if (fs_rm_rf(dir, &err) < 0) {
		log_warn("image.gc", "image=%s error=\"%s\"", b->build_id, err_msg(err));
		return;
	}
	db_build_delete(h->db, b->build_id, NULL);
	log_info("image.gc", "removed=%s", b->build_id);
}

/* Directories without a row: a capture that died before publishing. */
static void gc_strays(struct host *h)
{
	struct images *im = h->images;
	_cleanup_closedir_ DIR *d = opendir(im->root);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		bool tmp = strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0;
		const char *id = tmp ? de->d_name + strlen(TMP_PREFIX) : de->d_name;
		struct build_row b;
		if (pinned(im, id) || (!tmp && db_build_get(h->db, id, &b, NULL) == 0))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", im->root, de->d_name);
		fs_rm_rf(p, NULL);
		log_info("image.gc", "removed_stray=%s", de->d_name);
	}
}

void images_gc(struct host *h)
{
	db_build_each(h->db, "fork", gc_row, h, NULL);
	db_build_each(h->db, "pause", gc_row, h, NULL);
	gc_strays(h);
}
