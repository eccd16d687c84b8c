/* Listing the file:// backend: walk the directories below the prefix's
 * last complete component without recursion (an explicit stack), keep
 * the regular files whose key starts with the prefix, sort, call back. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "cleanup.h"
#include "objstore_int.h"

struct entry {
	char *key;
	uint64_t size;
	int64_t modified;
};

struct walk {
	char **dirs; /* keys of directories still to read ("" is the root) */
	size_t ndirs, capdirs;
	struct entry *found;
	size_t nfound, capfound;
};

static void push_dir(struct walk *w, char *rel)
{
	if (w->ndirs == w->capdirs) {
		w->capdirs = w->capdirs ? w->capdirs * 2 : 16;
		w->dirs = xrealloc(w->dirs, w->capdirs * sizeof(*w->dirs));
	}
	w->dirs[w->ndirs++] = rel;
}

static void add_found(struct walk *w, char *key, uint64_t size, int64_t modified)
{
	if (w->nfound == w->capfound) {
		w->capfound = w->capfound ? w->capfound * 2 : 64;
		w->found = xrealloc(w->found, w->capfound * sizeof(*w->found));
	}
	w->found[w->nfound++] = (struct entry){ key, size, modified };
}

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->ndirs; i++)
		free(w->dirs[i]);
	for (size_t i = 0; i < w->nfound; i++)
		free(w->found[i].key);
	free(w->dirs);
	free(w->found);
}

/* Whether a key under rel could still start with prefix (or does). */
static int may_match(const char *key, const char *prefix)
{
	size_t k = strlen(key), p = strlen(prefix);
	return !strncmp(key, prefix, k < p ? k : p);
}

static int name_ok(const char *name)
{
	/* Temporary files hold a '~'; nothing else of ours is there. */
	return strcmp(name, ".") && strcmp(name, "..") && !strchr(name, '~');
}

static int read_dir(struct objstore *s, struct walk *w, const char *rel, const char *prefix,
		    struct thaw_err **err)
{
	_cleanup_free_ char *path = xasprintf("%s%s%s", s->dir, *rel ? "/" : "", rel);
	_cleanup_closedir_ DIR *d = opendir(path);
	if (!d && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	if (!d)
		return err_sys(err, "reading %s", path);
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (!name_ok(de->d_name))
			continue;
		char *key = xasprintf("%s%s%s", rel, *rel ? "/" : "", de->d_name);
		struct stat st;
		if (!objstore_key_valid(key) || !may_match(key, prefix) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			free(key);
			continue;
		}
		if (S_ISDIR(st.st_mode))
			push_dir(w, key);
		else if (S_ISREG(st.st_mode) && !strncmp(key, prefix, strlen(prefix)))
			add_found(w, key, (uint64_t)st.st_size, (int64_t)st.st_mtime);
		else
			free(key);
	}
	if (errno)
		return err_sys(err, "reading %s", path);
	return 0;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}

int filestore_list(struct objstore *s, const char *prefix, objstore_list_fn fn, void *ctx,
		   struct thaw_err **err)
{
	struct walk w = { 0 };
	/* Start at the prefix's last complete component: "data/ab" reads
	 * DIR/data only. */
	const char *slash = strrchr(prefix, '/');
	push_dir(&w, slash ? xstrndup(prefix, (size_t)(slash - prefix)) : xstrdup(""));
	int rc = 0;
	while (rc == 0 && w.ndirs > 0) {
		char *rel = w.dirs[--w.ndirs];
		rc = read_dir(s, &w, rel, prefix, err);
		free(rel);
	}
	if (rc == 0 && w.nfound)
		qsort(w.found, w.nfound, sizeof(*w.found), by_key);
	for (size_t i = 0; rc == 0 && i < w.nfound; i++)
		if (fn(w.found[i].key, w.found[i].size, w.found[i].modified, ctx) < 0)
			rc = err_set(err, ERR_INTERNAL, "stopped by the caller at %s",
				     w.found[i].key);
	walk_free(&w);
	return rc;
}
