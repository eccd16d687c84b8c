#include "disk/overlay.h"

#include <fcntl.h>
#include <jansson.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"
#include "proc.h"

/* A map of a few GiB of disk is a few thousand lines at most; more is
 * not an answer this code expects. */
#define MAP_MAX_BYTES (64u << 20)
#define COPY_CHUNK (1u << 20)

static void collect(const char *line, void *ud)
{
	struct buf *b = ud;
	if (b->len + strlen(line) + 1 <= MAP_MAX_BYTES) {
		buf_append_str(b, line);
		buf_append_str(b, "\n");
	}
}

/* qemu-img map of the overlay alone: "backing": null leaves the base
 * out, so each range is either the overlay's (present) or not. -U: the
 * file is a clone nobody writes, and QEMU's lock on the original does
 * not apply to it anyway. */
static int map_overlay(const char *overlay, json_t **out, struct thaw_err **err)
{
	json_t *spec = json_pack("{s:s, s:{s:s, s:s}, s:n}", "driver", "qcow2", "file", "driver",
				 "file", "filename", overlay, "backing");
	_cleanup_free_ char *spec_text = json_dumps(spec, JSON_COMPACT);
	json_decref(spec);
	_cleanup_free_ char *arg = xasprintf("json:%s", spec_text);
	const char *argv[] = { "qemu-img", "map", "-U", "--output=json", arg, NULL };
	_cleanup_buf_ struct buf b = { 0 };
	if (proc_run(argv, NULL, collect, &b, err) < 0)
		return err_wrap(err, "mapping the disk overlay");
	json_error_t je;
	*out = json_loadb(b.data ? (const char *)b.data : "", b.len, 0, &je);
	if (!json_is_array(*out)) {
		json_decref(*out);
		*out = NULL;
		return err_set(err, ERR_CORRUPT, "qemu-img map gave no list of ranges: %s", je.text);
	}
	return 0;
}

static int get_u64(json_t *o, const char *key, uint64_t *v)
{
	json_t *j = json_object_get(o, key);
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return -1;
	*v = (uint64_t)json_integer_value(j);
	return 0;
}

static int copy_range(int src, uint64_t from, int dst, uint64_t to, uint64_t len, char *buf,
		      struct thaw_err **err)
{
	while (len) {
		size_t want = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
		ssize_t n = pread(src, buf, want, (off_t)from);
		if (n != (ssize_t)want)
			return n < 0 ? err_sys(err, "reading the disk overlay")
				     : err_set(err, ERR_CORRUPT, "the disk overlay is shorter "
								 "than its map says");
		if (fs_pwrite_all(dst, buf, want, (off_t)to, err) < 0)
			return -1;
		from += want;
		to += want;
		len -= want;
	}
	return 0;
}

int overlay_flatten(const char *overlay, int dst_fd, uint64_t disk_size, uint64_t *written,
		    struct thaw_err **err)
{
	*written = 0;
	_cleanup_close_ int src = open(overlay, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (src < 0 || fstat(src, &st) < 0)
		return err_sys(err, "opening the disk overlay %s", overlay);
	json_t *map = NULL;
	if (map_overlay(overlay, &map, err) < 0)
		return -1;
	_cleanup_free_ char *buf = xmalloc(COPY_CHUNK);
	int rc = 0;
	size_t i;
	json_t *e;
	json_array_foreach(map, i, e)
	{
		uint64_t start, len, off = 0;
		json_t *present = json_object_get(e, "present"), *data = json_object_get(e, "data");
		if (!json_is_object(e) || get_u64(e, "start", &start) < 0 ||
		    get_u64(e, "length", &len) < 0 || !json_is_boolean(present) ||
		    !json_is_boolean(data) || start > disk_size || len > disk_size - start) {
			rc = err_set(err, ERR_CORRUPT, "qemu-img map: range %zu is not valid", i);
			break;
		}
		if (!json_is_true(present) || len == 0)
			continue; /* the base's: already in the copy */
		if (json_is_true(data)) {
			/* A data cluster without a host offset (compressed,
			 * encrypted) cannot be read raw; thaw never makes one. */
			if (get_u64(e, "offset", &off) < 0 || off > (uint64_t)st.st_size ||
			    len > (uint64_t)st.st_size - off) {
				rc = err_set(err, ERR_CORRUPT,
					     "qemu-img map: range %zu has no readable offset", i);
				break;
			}
			rc = copy_range(src, off, dst_fd, start, len, buf, err);
			*written += len;
		} else if (fallocate(dst_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				     (off_t)start, (off_t)len) < 0) {
			rc = err_sys(err, "zeroing what the guest discarded");
		}
		if (rc < 0)
			break;
	}
	json_decref(map);
	return rc;
}
