/* The name space: an artifact per CACHE/manifests/<id>.json, read on
 * lookup (again whenever the file is replaced), with five inodes of its
 * own. An artifact lives while the table names it (its manifest is the
 * current one), the kernel holds a lookup of one of its inodes, a file of
 * it is open or a prefetch job runs for it: a removed or replaced
 * manifest hides the id from new lookups while open files keep working. */
#include "lazyfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "log.h"

bool ns_id_valid(const char *id)
{
	return manifest_name_valid(id);
}

int ns_init(struct ns *ns, const char *cache_dir, struct cache *cache, struct thaw_err **err)
{
	memset(ns, 0, sizeof(*ns));
	ns->manifests = xasprintf("%s/manifests", cache_dir);
	ns->cache = cache;
	ns->next_seq = 1;
	pthread_mutex_init(&ns->mu, NULL);
	return fs_mkdir_p(ns->manifests, 0700, err);
}

static void artifact_free(struct ns *ns, struct artifact *a)
{
	for (size_t j = 0; a->objs && j < a->m.nobjects; j++)
		if (a->objs[j])
			cache_obj_put(ns->cache, a->objs[j]);
	manifest_free(&a->m);
	free(a->objs);
	free(a->trace);
	free(a->touched);
	pthread_mutex_destroy(&a->trace_mu);
	free(a);
}

void ns_fini(struct ns *ns)
{
	while (ns->list) {
		struct artifact *a = ns->list;
		ns->list = a->next;
		artifact_free(ns, a);
	}
	free(ns->manifests);
	pthread_mutex_destroy(&ns->mu);
}

/* Frees a when nothing holds it any more (ns->mu held). */
static void maybe_free(struct ns *ns, struct artifact *a)
{
	if (a->refs || a->nlookup)
		return;
	for (struct artifact **p = &ns->list; *p; p = &(*p)->next)
		if (*p == a) {
			*p = a->next;
			break;
		}
	artifact_free(ns, a);
}

void ns_ref(struct ns *ns, struct artifact *a)
{
	pthread_mutex_lock(&ns->mu);
	a->refs++;
	pthread_mutex_unlock(&ns->mu);
}

void ns_unref(struct ns *ns, struct artifact *a)
{
	pthread_mutex_lock(&ns->mu);
	a->refs--;
	maybe_free(ns, a);
	pthread_mutex_unlock(&ns->mu);
}

void ns_add_lookup(struct ns *ns, struct artifact *a)
{
	pthread_mutex_lock(&ns->mu);
	a->nlookup++;
	pthread_mutex_unlock(&ns->mu);
}

static struct artifact *find_ino(struct ns *ns, uint64_t ino)
{
	uint64_t base = ino >> INO_SHIFT << INO_SHIFT;
	for (struct artifact *a = ns->list; a; a = a->next)
		if (a->ino == base)
			return a;
	return NULL;
}

struct artifact *ns_by_ino(struct ns *ns, uint64_t ino)
{
	pthread_mutex_lock(&ns->mu);
	struct artifact *a = find_ino(ns, ino);
	if (a)
		a->refs++;
	pthread_mutex_unlock(&ns->mu);
	return a;
}

void ns_forget(struct ns *ns, uint64_t ino, uint64_t n)
{
	pthread_mutex_lock(&ns->mu);
	struct artifact *a = find_ino(ns, ino);
	if (a) {
		a->nlookup = a->nlookup > n ? a->nlookup - n : 0;
		maybe_free(ns, a);
	}
	pthread_mutex_unlock(&ns->mu);
}

static struct artifact *find_current(struct ns *ns, const char *id)
{
	for (struct artifact *a = ns->list; a; a = a->next)
		if (a->current && strcmp(a->id, id) == 0)
			return a;
	return NULL;
}

/* The current artifact of id stops being current (ns->mu held). */
static void retire(struct ns *ns, struct artifact *a)
{
	if (!a)
		return;
	a->current = false;
	a->refs--;
	maybe_free(ns, a);
}

static bool same_file(const struct artifact *a, const struct stat *st)
{
	return a->mdev == st->st_dev && a->mino == st->st_ino && a->msize == st->st_size &&
	       a->mmtime_ns == (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* How many windows each object of m needs room for. */
static int attach_objects(struct ns *ns, struct artifact *a, struct thaw_err **err)
{
	const struct manifest *m = &a->m;
	_cleanup_free_ size_t *need = xcalloc(m->nobjects + 1, sizeof(*need));
	for (int f = 0; f < MANIFEST_WFILE_COUNT; f++)
		for (size_t i = 0; i < m->files[f].nwindows; i++) {
			const struct manifest_window *w = &m->files[f].w[i];
			size_t idx = w->offset / m->window_bytes;
			if (w->object && need[w->object_index] < idx + 1)
				need[w->object_index] = idx + 1;
		}
	a->objs = xcalloc(m->nobjects + 1, sizeof(*a->objs));
	for (size_t j = 0; j < m->nobjects; j++)
		if (cache_obj(ns->cache, m->objects[j], m->window_bytes, need[j], &a->objs[j],
			      err) < 0)
			return -1;
	return 0;
}

static struct artifact *artifact_load(struct ns *ns, const char *id, int fd, const struct stat *st,
				      struct thaw_err **err)
{
	if (st->st_size > (off_t)MANIFEST_TEXT_MAX || !S_ISREG(st->st_mode)) {
		err_set(err, ERR_CORRUPT, "not a regular file of at most %u bytes",
			MANIFEST_TEXT_MAX);
		return NULL;
	}
	_cleanup_free_ char *text = xmalloc((size_t)st->st_size + 1);
	ssize_t n = pread(fd, text, (size_t)st->st_size, 0);
	if (n != st->st_size) {
		err_sys(err, "reading the manifest");
		return NULL;
	}
	struct artifact *a = xcalloc(1, sizeof(*a));
	snprintf(a->id, sizeof(a->id), "%s", id);
	pthread_mutex_init(&a->trace_mu, NULL);
	if (manifest_parse(text, (size_t)n, &a->m, err) < 0 || attach_objects(ns, a, err) < 0) {
		artifact_free(ns, a);
		return NULL;
	}
	size_t nw = a->m.files[MANIFEST_MEMORY].nwindows;
	a->trace = xcalloc(nw + 1, sizeof(*a->trace));
	a->touched = xcalloc(nw / 8 + 1, 1);
	a->mdev = st->st_dev;
	a->mino = st->st_ino;
	a->msize = st->st_size;
	a->mmtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	return a;
}

/* Returns a referenced current artifact for id whose manifest is *st, or NULL. */
static struct artifact *current_if_same(struct ns *ns, const char *id, const struct stat *st)
{
	struct artifact *a = find_current(ns, id);
	if (!a || !same_file(a, st))
		return NULL;
	a->refs++;
	return a;
}

int ns_lookup(struct ns *ns, const char *id, struct artifact **out)
{
	if (!ns_id_valid(id))
		return -ENOENT;
	_cleanup_free_ char *path = xasprintf("%s/%s.json", ns->manifests, id);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		pthread_mutex_lock(&ns->mu);
		retire(ns, find_current(ns, id));
		pthread_mutex_unlock(&ns->mu);
		return -ENOENT;
	}
	pthread_mutex_lock(&ns->mu);
	struct artifact *a = current_if_same(ns, id, &st);
	pthread_mutex_unlock(&ns->mu);
	if (a) {
		*out = a;
		return 0;
	}
	_cleanup_err_ struct thaw_err *e = NULL;
	struct artifact *fresh = artifact_load(ns, id, fd, &st, &e);
	pthread_mutex_lock(&ns->mu);
	if (!fresh) {
		log_warn("lazyfs.manifest_refused", "id=%s error=\"%s\"", id, err_msg(e));
		retire(ns, find_current(ns, id));
		pthread_mutex_unlock(&ns->mu);
		return -ENOENT;
	}
	a = current_if_same(ns, id, &st); /* another lookup got there first */
	if (a) {
		pthread_mutex_unlock(&ns->mu);
		artifact_free(ns, fresh);
		*out = a;
		return 0;
	}
	retire(ns, find_current(ns, id));
	fresh->ino = ns->next_seq++ << INO_SHIFT;
	fresh->current = true;
	fresh->refs = 2; /* the table's and the caller's */
	fresh->next = ns->list;
	ns->list = fresh;
	pthread_mutex_unlock(&ns->mu);
	log_info("lazyfs.artifact", "id=%s ino=%llu", id, (unsigned long long)fresh->ino);
	*out = fresh;
	return 0;
}

void ns_list(struct ns *ns, void (*fn)(const char *id, uint64_t ino, void *ctx), void *ctx)
{
	_cleanup_closedir_ DIR *d = opendir(ns->manifests);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n <= 5 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		_cleanup_free_ char *id = xstrndup(de->d_name, n - 5);
		struct artifact *a;
		if (ns_lookup(ns, id, &a) < 0)
			continue;
		fn(id, a->ino, ctx);
		ns_unref(ns, a);
	}
}

void ns_trace_touch(struct artifact *a, size_t i)
{
	pthread_mutex_lock(&a->trace_mu);
	if (!(a->touched[i / 8] & (1u << (i % 8)))) {
		a->touched[i / 8] |= (uint8_t)(1u << (i % 8));
		a->trace[a->ntrace++] = (uint32_t)i;
	}
	pthread_mutex_unlock(&a->trace_mu);
}
