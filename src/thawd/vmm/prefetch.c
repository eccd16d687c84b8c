#include "vmm/prefetch.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"

#define PAGE 4096ull
#define MAGIC "THAWRES1"
#define MAGIC_LEN 8
/* A list longer than this is not one thaw wrote: 16 GiB of single pages
 * apart would be 2M runs. */
#define MAX_RUNS (4u << 20)

int prefetch_save(const char *path, const struct page_runs *runs, struct thaw_err **err)
{
	size_t len = MAGIC_LEN + 8 + runs->n * 16;
	_cleanup_free_ uint8_t *buf = xmalloc(len);
	memcpy(buf, MAGIC, MAGIC_LEN);
	uint64_t v = htole64((uint64_t)runs->n);
	memcpy(buf + MAGIC_LEN, &v, 8);
	for (size_t i = 0; i < runs->n; i++) {
		uint64_t pair[2] = { htole64(runs->run[i][0]), htole64(runs->run[i][1]) };
		memcpy(buf + MAGIC_LEN + 8 + i * 16, pair, 16);
	}
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, "creating %s", path);
	return fs_pwrite_all(fd, buf, len, 0, err);
}

int prefetch_load(const char *path, uint64_t max_pages, struct page_runs *out,
		  struct thaw_err **err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (fs_read_file(path, MAGIC_LEN + 8 + (size_t)MAX_RUNS * 16, &data, &len, err) < 0)
		return -1;
	uint64_t n;
	if (len < MAGIC_LEN + 8 || memcmp(data, MAGIC, MAGIC_LEN) != 0)
		return err_set(err, ERR_INVALID, "%s is not a resident page list", path);
	memcpy(&n, data + MAGIC_LEN, 8);
	n = le64toh(n);
	if (n > MAX_RUNS || len != MAGIC_LEN + 8 + n * 16)
		return err_set(err, ERR_INVALID, "%s: %zu bytes do not hold its %llu runs", path,
			       len, (unsigned long long)n);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t pair[2];
		memcpy(pair, data + MAGIC_LEN + 8 + i * 16, 16);
		uint64_t first = le64toh(pair[0]), count = le64toh(pair[1]);
		if (count == 0 || first >= max_pages || count > max_pages - first) {
			page_runs_free(out);
			return err_set(err, ERR_INVALID, "%s: run %llu lies outside the memory",
				       path, (unsigned long long)i);
		}
		page_runs_add(out, first, count);
	}
	return 0;
}

int64_t prefetch_start(const char *path, const struct page_runs *runs, struct thaw_err **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "opening %s", path);
	int64_t pages = 0;
	for (size_t i = 0; i < runs->n; i++) {
		/* WILLNEED queues the reads and returns; the pages stay in the
		 * cache after fd is closed. */
		int rc = posix_fadvise(fd, (off_t)(runs->run[i][0] * PAGE),
				       (off_t)(runs->run[i][1] * PAGE), POSIX_FADV_WILLNEED);
		if (rc != 0) {
			errno = rc;
			return err_sys(err, "prefetching %s", path);
		}
		pages += (int64_t)runs->run[i][1];
	}
	return pages;
}

int64_t prefetch_dir(const char *dir, const char *memory_path, uint64_t memory_bytes,
		     struct thaw_err **err)
{
	_cleanup_free_ char *list = xasprintf("%s/%s", dir, PREFETCH_FILE);
	const char *mem = memory_path;
	struct page_runs runs;
	_cleanup_err_ struct thaw_err *lerr = NULL;
	if (prefetch_load(list, memory_bytes / PAGE, &runs, &lerr) < 0) {
		if (lerr->code == ERR_NOT_FOUND)
			return 0;
		return err_set(err, lerr->code, "%s", lerr->msg);
	}
	int64_t pages = prefetch_start(mem, &runs, err);
	page_runs_free(&runs);
	return pages;
}
