/* thaw:file-watch PATH RECURSIVE: inotify events on stdout until the
 * host goes away (the agent kills the command when its connection
 * drops, and a write to the closed pipe ends it too).
 *
 * One record per event, "TYPE\tPATH\0", PATH absolute. Records end in
 * NUL, not a newline: a file name may hold a newline, never a NUL.
 * TYPE is one of
 *   ready     the watches are in place (PATH: the watched path); events
 *             from here on are reported
 *   create    a file or directory appeared (also one moved in from
 *             outside the watched tree)
 *   write     a file's content changed (IN_MODIFY; inotify folds
 *             repeats that were not read yet into one)
 *   remove    a file or directory went away (also one moved out)
 *   rename    PATH is the new name; a "from\tOLD\0" record follows
 *   overflow  the kernel dropped events (its queue was full)
 *   gone      the watched path itself was removed or moved: the end
 * With RECURSIVE, every directory below PATH is watched too, and each new
 * one as it appears (a directory created and filled before its watch is
 * added loses those first events: inotify's own limit). A watched
 * subdirectory renamed within the tree keeps reporting under its old
 * path: its watch is not renamed with it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define WATCHES_MAX 8192 /* directories watched at most (recursive) */
#define WATCH_MASK                                                                                 \
	(IN_CREATE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |        \
	 IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)

struct watch {
	int wd;
	char *path; /* absolute; owned */
};

struct watcher {
	int fd;
	bool recursive;
	int root_wd;
	struct watch *v;
	size_t n, cap;
	/* A move out whose move in may follow in the same read. */
	uint32_t cookie;
	char from[PATH_MAX];
};

static const char *watch_path(const struct watcher *w, int wd)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].wd == wd)
			return w->v[i].path;
	return NULL;
}

static int record(const char *type, const char *path)
{
	size_t tl = strlen(type), pl = strlen(path);
	char line[PATH_MAX + 32];
	if (tl + pl + 2 > sizeof(line))
		return 0;
	memcpy(line, type, tl);
	line[tl] = '\t';
	memcpy(line + tl + 1, path, pl);
	line[tl + 1 + pl] = '\0';
	return cmd_write_all(1, line, tl + pl + 2);
}

/* A watch on dir (a directory). 0 also when the directory vanished
 * meanwhile or the limit is reached: it is then not watched. */
static int watch_add(struct watcher *w, const char *dir)
{
	if (w->n == WATCHES_MAX)
		return 0;
	int wd = inotify_add_watch(w->fd, dir, WATCH_MASK);
	if (wd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : errno;
	if (watch_path(w, wd))
		return 0; /* the same directory by another name */
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 32;
		struct watch *v = realloc(w->v, cap * sizeof(*v));
		if (!v)
			return ENOMEM;
		w->v = v;
		w->cap = cap;
	}
	char *copy = strdup(dir);
	if (!copy)
		return ENOMEM;
	w->v[w->n++] = (struct watch){ .wd = wd, .path = copy };
	return 0;
}

/* dir and every directory below it, breadth first over the watch list
 * itself (no recursion): each directory added is scanned in its turn. */
static int watch_tree(struct watcher *w, const char *dir)
{
	size_t first = w->n;
	int e = watch_add(w, dir);
	for (size_t i = first; e == 0 && i < w->n; i++) {
		DIR *d = opendir(w->v[i].path);
		if (!d)
			continue;
		struct dirent *de;
		char sub[PATH_MAX];
		while (e == 0 && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			struct stat st;
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISDIR(st.st_mode))
				continue;
			const char *base = w->v[i].path;
			if (snprintf(sub, sizeof(sub), "%s%s%s", base, strcmp(base, "/") ? "/" : "",
				     de->d_name) < (int)sizeof(sub))
				e = watch_add(w, sub);
		}
		closedir(d);
	}
	return e;
}

/* A pending move out with no move in after it left the tree. */
static int flush_move(struct watcher *w)
{
	if (!w->cookie)
		return 0;
	w->cookie = 0;
	return record("remove", w->from);
}

static int on_event(struct watcher *w, const struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW)
		return record("overflow", "");
	const char *dir = watch_path(w, ev->wd);
	if (!dir)
		return 0; /* a watch already dropped */
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))
		return ev->wd == w->root_wd ? (record("gone", dir) < 0 ? -1 : 1) : 0;
	if (!ev->len)
		return 0;
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", ev->name) >=
	    (int)sizeof(path))
		return 0;
	if (ev->mask & IN_MOVED_TO && w->cookie && w->cookie == ev->cookie) {
		w->cookie = 0;
		if (record("rename", path) < 0 || record("from", w->from) < 0)
			return -1;
	} else if (flush_move(w) < 0) {
		return -1;
	} else if (ev->mask & IN_MOVED_FROM) {
		w->cookie = ev->cookie;
		snprintf(w->from, sizeof(w->from), "%s", path);
		return 0;
	} else if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
		if (record("create", path) < 0)
			return -1;
	} else if (ev->mask & IN_MODIFY) {
		return record("write", path);
	} else if (ev->mask & IN_DELETE) {
		return record("remove", path);
	}
	if (w->recursive && ev->mask & IN_ISDIR && ev->mask & (IN_CREATE | IN_MOVED_TO))
		return watch_tree(w, path) ? -1 : 0;
	return 0;
}

/* Reads events until the root goes away or stdout closes. */
static int watch_loop(struct watcher *w)
{
	static char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return cmd_fail("watch", w->v[0].path, n < 0 ? errno : EIO);
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			int rc = on_event(w, ev);
			if (rc < 0)
				return EPIPE; /* the host went away */
			if (rc > 0)
				return 0;
			p += sizeof(*ev) + ev->len;
		}
		/* A move out not followed by its move in within one read left
		 * the tree. */
		if (flush_move(w) < 0)
			return EPIPE;
	}
}

static int watch_cmd(const char *path, int recursive)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return cmd_fail("watch", path, errno);
	if (!S_ISDIR(st.st_mode))
		return cmd_fail("watch", path, ENOTDIR);
	struct watcher w = { .recursive = recursive };
	w.fd = inotify_init1(IN_CLOEXEC);
	if (w.fd < 0)
		return cmd_fail("inotify", path, errno);
	int e = recursive ? watch_tree(&w, path) : watch_add(&w, path);
	if (e == 0 && w.n == 0)
		e = ENOENT;
	if (e)
		return cmd_fail("watch", path, e);
	w.root_wd = w.v[0].wd;
	if (record("ready", path) < 0)
		return EPIPE;
	return watch_loop(&w); /* the process ends here: the kernel frees the rest */
}

/* PATH RECURSIVE(0|1) */
int builtin_file_watch(int argc, char **argv)
{
	(void)argc;
	if (argv[1][0] != '/' || (strcmp(argv[2], "0") && strcmp(argv[2], "1")))
		return cmd_fail(argv[0], argv[1], EINVAL);
	return watch_cmd(argv[1], argv[2][0] == '1');
}
