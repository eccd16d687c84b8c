/* The agent's built-in file commands (proto.h, FILE_CMD_*). They run in
 * a forked copy of the agent with stdin, stdout and stderr on the
 * session's pipes, so reading and writing stream with backpressure, and a
 * timeout or a vanished host kills them like any command. Each returns
 * its exit status: 0, or the errno of what failed (with a message on
 * stderr). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define COPY_CHUNK 65536

static uint8_t ftype_of(mode_t m)
{
	return S_ISREG(m)   ? FTYPE_FILE
	       : S_ISDIR(m) ? FTYPE_DIR
	       : S_ISLNK(m) ? FTYPE_SYMLINK
			    : FTYPE_OTHER;
}

/* One MSG_FILE_INFO frame on stdout. dirfd/name locate a symlink for
 * its target. */
static int print_info(const char *name, const struct stat *st, int dirfd, const char *relpath)
{
	struct buf b = { 0 };
	size_t start = proto_begin(&b, MSG_FILE_INFO, 0);
	proto_put_str(&b, T_NAME, name);
	proto_put_u8(&b, T_FTYPE, ftype_of(st->st_mode));
	proto_put_u64(&b, T_SIZE, (uint64_t)st->st_size);
	proto_put_u32(&b, T_MODE, (uint32_t)(st->st_mode & 07777));
	proto_put_u32(&b, T_UID, (uint32_t)st->st_uid);
	proto_put_u32(&b, T_GID, (uint32_t)st->st_gid);
	const char *owner = idnames_user((unsigned)st->st_uid);
	const char *group = idnames_group((unsigned)st->st_gid);
	if (owner)
		proto_put_str(&b, T_OWNER, owner);
	if (group)
		proto_put_str(&b, T_GROUP, group);
	proto_put_u64(&b, T_MTIME_NS,
		      (uint64_t)st->st_mtim.tv_sec * 1000000000ull + (uint64_t)st->st_mtim.tv_nsec);
	if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dirfd, relpath, target, sizeof(target) - 1);
		if (n >= 0) {
			target[n] = '\0';
			proto_put_str(&b, T_LINK, target);
		}
	}
	proto_end(&b, start);
	int rc = cmd_write_all(1, b.data, b.len);
	buf_free(&b);
	return rc;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash && slash[1] ? slash + 1 : path;
}

static int stat_cmd(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return cmd_fail("stat", path, errno);
	return print_info(base_name(path), &st, AT_FDCWD, path) < 0 ? EIO : 0;
}

static int read_cmd(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cmd_fail("open", path, errno);
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return cmd_fail("read", path, EISDIR);
	}
	static char buf[COPY_CHUNK];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cmd_fail("read", path, errno);
		if (n == 0)
			break;
		if (cmd_write_all(1, buf, (size_t)n) < 0)
			return EPIPE; /* the host went away */
	}
	close(fd);
	return 0;
}

/* mkdir -p: every missing component with mode. */
static int mkdirs(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return errno;
	struct stat st;
	if (stat(tmp, &st) < 0)
		return errno;
	return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

/* A number in base, or "-" (returns 1, *out untouched). */
static int parse_num(const char *s, int base, long max, long *out)
{
	if (strcmp(s, "-") == 0)
		return 1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, base);
	if (errno || end == s || *end || v < 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

struct write_args {
	const char *path;
	long mode, uid, gid; /* -1: keep or default */
	int parents;
};

/* stdin into a temp file next to path, then rename: readers never see a
 * half-written file, and a failed write leaves the old one. */
static int write_cmd(const struct write_args *a)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 32];
	snprintf(dir, sizeof(dir), "%s", a->path);
	char *slash = strrchr(dir, '/');
	if (!slash || !slash[1])
		return cmd_fail("write", a->path, EINVAL);
	*slash = '\0';
	if (!dir[0])
		snprintf(dir, sizeof(dir), "/");
	if (a->parents) {
		int e = mkdirs(dir, 0755);
		if (e)
			return cmd_fail("mkdir", dir, e);
	}
	struct stat old;
	bool exists = stat(a->path, &old) == 0;
	if (exists && S_ISDIR(old.st_mode))
		return cmd_fail("write", a->path, EISDIR);
	mode_t mode = a->mode >= 0 ? (mode_t)a->mode : exists ? old.st_mode & 07777 : 0644;
	uid_t uid = a->uid >= 0 ? (uid_t)a->uid : exists ? old.st_uid : 0;
	gid_t gid = a->gid >= 0 ? (gid_t)a->gid : exists ? old.st_gid : 0;
	snprintf(tmp, sizeof(tmp), "%s/.thaw-write-XXXXXX", dir);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return cmd_fail("create in", dir, errno);
	static char buf[COPY_CHUNK];
	int e = 0;
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? errno : 0;
			break;
		}
		if (cmd_write_all(fd, buf, (size_t)n) < 0) {
			e = errno;
			break;
		}
	}
	if (!e && (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0))
		e = errno;
	if (close(fd) < 0 && !e)
		e = errno;
	if (!e && rename(tmp, a->path) < 0)
		e = errno;
	if (e) {
		unlink(tmp);
		return cmd_fail("write", a->path, e);
	}
	return stat_cmd(a->path);
}

/* A directory still to list: its path below the listed one ("" for
 * the listed one itself) and how deep it is (0 for the listed one). */
struct pending_dir {
	char *rel;
	int level;
};

struct tree_walk {
	const char *root;
	int depth;	   /* levels listed: 1 is the directory's own entries */
	long max, printed; /* stops after max + 1: the host sees it was cut */
	struct pending_dir *q;
	size_t head, tail, cap;
};

static int walk_push(struct tree_walk *w, const char *rel, int level)
{
	if (w->tail == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct pending_dir *q = realloc(w->q, cap * sizeof(*q));
		if (!q)
			return ENOMEM;
		w->q = q;
		w->cap = cap;
	}
	char *copy = strdup(rel);
	if (!copy)
		return ENOMEM;
	w->q[w->tail++] = (struct pending_dir){ .rel = copy, .level = level };
	return 0;
}

/* One directory's entries, printed with their path below the root;
 * subdirectories go on the queue while the depth allows. */
static int walk_dir(struct tree_walk *w, const struct pending_dir *pd)
{
	char dir[PATH_MAX], rel[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s/%s", w->root, pd->rel) >= (int)sizeof(dir))
		return 0; /* too deep a name to open: left out */
	DIR *d = opendir(pd->level ? dir : w->root);
	if (!d)
		return pd->level ? 0 : cmd_fail("list", w->root, errno);
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && w->printed <= w->max && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* removed meanwhile */
		if (snprintf(rel, sizeof(rel), "%s%s%s", pd->rel, pd->level ? "/" : "",
			     de->d_name) >= (int)sizeof(rel))
			continue;
		if (print_info(rel, &st, dirfd(d), de->d_name) < 0)
			rc = EPIPE;
		w->printed++;
		/* Symlinks are listed, never followed (lstat): no loops. */
		if (rc == 0 && S_ISDIR(st.st_mode) && pd->level + 1 < w->depth)
			rc = walk_push(w, rel, pd->level + 1);
	}
	closedir(d);
	return rc;
}

/* Breadth first, with a queue rather than recursion: the tree is the
 * guest's, of any depth, and the walk stops at depth levels or after
 * max + 1 entries, whichever comes first. */
static int list_cmd(const char *path, int depth, long max)
{
	struct tree_walk w = { .root = path, .depth = depth, .max = max };
	int rc = walk_push(&w, "", 0);
	while (rc == 0 && w.head < w.tail && w.printed <= w.max) {
		rc = walk_dir(&w, &w.q[w.head]);
		free(w.q[w.head++].rel);
	}
	while (w.head < w.tail)
		free(w.q[w.head++].rel);
	free(w.q);
	return rc;
}

/* FROM TO: rename(2), refusing to replace TO unless overwrite. Across
 * file systems rename fails with EXDEV; the host turns that into a clear
 * error rather than copying behind the caller's back. */
static int move_cmd(const char *from, const char *to, int overwrite)
{
	int rc = overwrite ? rename(from, to) : renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
	if (rc < 0 && !overwrite && (errno == EINVAL || errno == ENOSYS)) {
		/* A file system without RENAME_NOREPLACE: check, then rename. */
		struct stat st;
		if (lstat(to, &st) == 0)
			return cmd_fail("move to", to, EEXIST);
		rc = rename(from, to);
	}
	if (rc < 0)
		return cmd_fail("move", from, errno);
	return stat_cmd(to);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? errno : 0;
}

static int remove_cmd(const char *path, int recursive)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return cmd_fail("remove", path, errno);
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? cmd_fail("remove", path, errno) : 0;
	if (!recursive)
		return rmdir(path) < 0 ? cmd_fail("remove", path, errno) : 0;
	int e = nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS);
	return e ? cmd_fail("remove", path, e > 0 ? e : errno) : 0;
}

static int mkdir_cmd(const char *path, long mode, int parents)
{
	mode_t m = mode >= 0 ? (mode_t)mode : 0755;
	if (parents) {
		int e = mkdirs(path, m);
		if (e)
			return cmd_fail("mkdir", path, e);
	} else if (mkdir(path, m) < 0) {
		return cmd_fail("mkdir", path, errno);
	}
	return stat_cmd(path);
}

static int flag_arg(const char *s)
{
	return strcmp(s, "1") == 0 ? 1 : strcmp(s, "0") == 0 ? 0 : -1;
}

/* Every file command's first argument is an absolute guest path. */
static int need_path(char **argv)
{
	return argv[1][0] == '/' ? 0 : cmd_fail(argv[0], argv[1], EINVAL);
}

int builtin_file_read(int argc, char **argv)
{
	(void)argc;
	return need_path(argv) ?: read_cmd(argv[1]);
}

int builtin_file_stat(int argc, char **argv)
{
	(void)argc;
	return need_path(argv) ?: stat_cmd(argv[1]);
}

/* PATH [DEPTH MAX]: without them the directory's own entries, all. */
int builtin_file_list(int argc, char **argv)
{
	long depth = 1, max = LONG_MAX - 1;
	if (argc != 2 && (argc != 4 || parse_num(argv[2], 10, FILE_LIST_DEPTH_MAX, &depth) != 0 ||
			  depth < 1 || parse_num(argv[3], 10, LONG_MAX - 1, &max) != 0))
		return cmd_fail(argv[0], argv[1], EINVAL);
	return need_path(argv) ?: list_cmd(argv[1], (int)depth, max);
}

/* FROM TO OVERWRITE(0|1) */
int builtin_file_move(int argc, char **argv)
{
	(void)argc;
	int overwrite = flag_arg(argv[3]);
	if (overwrite < 0 || argv[2][0] != '/')
		return cmd_fail(argv[0], argv[2], EINVAL);
	return need_path(argv) ?: move_cmd(argv[1], argv[2], overwrite);
}

/* PATH RECURSIVE(0|1) */
int builtin_file_remove(int argc, char **argv)
{
	(void)argc;
	int recursive = flag_arg(argv[2]);
	if (recursive < 0)
		return cmd_fail(argv[0], argv[2], EINVAL);
	return need_path(argv) ?: remove_cmd(argv[1], recursive);
}

/* PATH MODE(octal) PARENTS(0|1) */
int builtin_file_mkdir(int argc, char **argv)
{
	(void)argc;
	long mode;
	int parents = flag_arg(argv[3]);
	if (parse_num(argv[2], 8, 07777, &mode) < 0 || parents < 0)
		return cmd_fail(argv[0], argv[1], EINVAL);
	return need_path(argv) ?: mkdir_cmd(argv[1], mode, parents);
}

/* PATH MODE(octal, -1) UID GID (-1: the old file's) PARENTS(0|1) */
int builtin_file_write(int argc, char **argv)
{
	(void)argc;
	struct write_args w = { .path = argv[1], .mode = -1, .uid = -1, .gid = -1 };
	if (parse_num(argv[2], 8, 07777, &w.mode) < 0 ||
	    parse_num(argv[3], 10, 0x7fffffff, &w.uid) < 0 ||
	    parse_num(argv[4], 10, 0x7fffffff, &w.gid) < 0 || (w.parents = flag_arg(argv[5])) < 0)
		return cmd_fail(argv[0], argv[1], EINVAL);
	return need_path(argv) ?: write_cmd(&w);
}
