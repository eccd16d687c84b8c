/* objstore_it: drives src/objstore against a real store for the
 * end-to-end tests (tests/e2e/test_objstore.py).
 *
 *   objstore_it [--deadline MS] [--attempt MS] [--stats FILE] CMD ARGS...
 *
 *   put KEY FILE            upload FILE (multipart above 64 MiB)
 *   putstr KEY TEXT         upload TEXT
 *   putmany PREFIX N        upload N small objects PREFIX00000.. ("obj-<i>")
 *   get KEY OFF LEN OUT     ranged read into OUT ("-": stdout)
 *   getall KEY MAX OUT      whole object of at most MAX bytes into OUT
 *   head KEY                print the size
 *   list PREFIX             print "KEY SIZE" lines, then "count N"
 *   delete KEY
 *
 * The store comes from THAW_S3_ENDPOINT, THAW_S3_BUCKET, THAW_S3_REGION,
 * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Exits 0, or 1 with
 * "objstore_it: CODE: message" on stderr; --stats writes the handle's
 * counters as JSON to FILE either way. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "err.h"
#include "objstore.h"

static int write_out(const char *path, const void *data, size_t len, struct thaw_err **err)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "wb") : stdout;
	if (!f)
		return err_sys(err, "opening %s", path);
	size_t n = fwrite(data, 1, len, f);
	int rc = (f == stdout ? fflush(f) : fclose(f)) == 0 && n == len ? 0 : -1;
	return rc ? err_sys(err, "writing %s", path) : 0;
}

static int cmd_put(struct objstore *s, char **a, struct thaw_err **err)
{
	_cleanup_close_ int fd = open(a[1], O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return err_sys(err, "opening %s", a[1]);
	return objstore_put_fd(s, a[0], fd, (uint64_t)st.st_size, err);
}

static int cmd_putstr(struct objstore *s, char **a, struct thaw_err **err)
{
	return objstore_put_buf(s, a[0], a[1], strlen(a[1]), err);
}

static int cmd_putmany(struct objstore *s, char **a, struct thaw_err **err)
{
	long n = strtol(a[1], NULL, 10);
	for (long i = 0; i < n; i++) {
		char key[1100], body[32];
		snprintf(key, sizeof(key), "%s%05ld", a[0], i);
		snprintf(body, sizeof(body), "obj-%ld", i);
		if (objstore_put_buf(s, key, body, strlen(body), err) < 0)
			return -1;
	}
	return 0;
}

static int cmd_get(struct objstore *s, char **a, struct thaw_err **err)
{
	uint64_t off = strtoull(a[1], NULL, 10);
	size_t len = (size_t)strtoull(a[2], NULL, 10);
	_cleanup_free_ char *buf = xmalloc(len ? len : 1);
	if (objstore_get_range(s, a[0], off, len, buf, err) < 0)
		return -1;
	return write_out(a[3], buf, len, err);
}

static int cmd_getall(struct objstore *s, char **a, struct thaw_err **err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (objstore_get_all(s, a[0], (size_t)strtoull(a[1], NULL, 10), &data, &len, err) < 0)
		return -1;
	return write_out(a[2], data, len, err);
}

static int cmd_head(struct objstore *s, char **a, struct thaw_err **err)
{
	uint64_t size;
	if (objstore_head(s, a[0], &size, err) < 0)
		return -1;
	printf("%llu\n", (unsigned long long)size);
	return 0;
}

static int print_entry(const char *key, uint64_t size, int64_t modified, void *ctx)
{
	/* The store says when each object was written (the bucket's
	 * collector relies on it): within a day of now, here. */
	int64_t now = (int64_t)time(NULL);
	if (modified < now - 86400 || modified > now + 86400) {
		fprintf(stderr, "%s: modified %lld is not a time near now\n", key,
			(long long)modified);
		return -1;
	}
	(*(size_t *)ctx)++;
	printf("%s %llu\n", key, (unsigned long long)size);
	return 0;
}

static int cmd_list(struct objstore *s, char **a, struct thaw_err **err)
{
	size_t n = 0;
	if (objstore_list(s, a[0], print_entry, &n, err) < 0)
		return -1;
	printf("count %zu\n", n);
	return 0;
}

static int cmd_delete(struct objstore *s, char **a, struct thaw_err **err)
{
	return objstore_delete(s, a[0], err);
}

static const struct {
	const char *name;
	int nargs;
	int (*fn)(struct objstore *s, char **args, struct thaw_err **err);
} cmds[] = {
	{ "put", 2, cmd_put },	 { "putstr", 2, cmd_putstr }, { "putmany", 2, cmd_putmany },
	{ "get", 4, cmd_get },	 { "getall", 3, cmd_getall }, { "head", 1, cmd_head },
	{ "list", 1, cmd_list }, { "delete", 1, cmd_delete },
};

static void write_stats(struct objstore *s, const char *path)
{
	struct objstore_stats st;
	objstore_get_stats(s, &st);
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f,
		"{\"gets\": %llu, \"bytes_fetched\": %llu, \"puts\": %llu, "
		"\"bytes_uploaded\": %llu, \"retries\": %llu, \"errors\": %llu}\n",
		(unsigned long long)st.gets, (unsigned long long)st.bytes_fetched,
		(unsigned long long)st.puts, (unsigned long long)st.bytes_uploaded,
		(unsigned long long)st.retries, (unsigned long long)st.errors);
	fclose(f);
}

static int usage(void)
{
	fprintf(stderr, "usage: objstore_it [--deadline MS] [--attempt MS] [--stats FILE] "
			"put|putstr|putmany|get|getall|head|list|delete ARGS...\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct objstore_config c = {
		.endpoint = getenv("THAW_S3_ENDPOINT"),
		.bucket = getenv("THAW_S3_BUCKET"),
		.region = getenv("THAW_S3_REGION"),
		.access_key = getenv("AWS_ACCESS_KEY_ID"),
		.secret_key = getenv("AWS_SECRET_ACCESS_KEY"),
	};
	const char *stats = NULL;
	int i = 1;
	for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (!strcmp(argv[i], "--deadline"))
			c.deadline_ms = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--attempt"))
			c.attempt_ms = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--stats"))
			stats = argv[i + 1];
		else
			return usage();
	}
	if (i >= argc)
		return usage();
	_cleanup_err_ struct thaw_err *e = NULL;
	struct objstore *s = NULL;
	if (objstore_open(&c, &s, &e) < 0) {
		fprintf(stderr, "objstore_it: %s: %s\n", err_code_name(e->code), e->msg);
		return 1;
	}
	int rc = -1;
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
		if (!strcmp(argv[i], cmds[k].name)) {
			if (argc - i - 1 != cmds[k].nargs) {
				objstore_close(s);
				return usage();
			}
			rc = cmds[k].fn(s, argv + i + 1, &e);
			break;
		}
	if (rc < 0 && !e)
		rc = usage();
	else if (rc < 0)
		fprintf(stderr, "objstore_it: %s: %s\n", err_code_name(e->code), e->msg);
	if (stats)
		write_stats(s, stats);
	objstore_close(s);
	return rc == 0 ? 0 : rc == 2 ? 2 : 1;
}
