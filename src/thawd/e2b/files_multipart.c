/* POST /files with multipart/form-data (the SDK's files.write): the
 * body, already in a temp file (body_to_file), goes through
 * libmicrohttpd's MHD_PostProcessor; each "file" part lands in a temp
 * file of its own and is written to the guest as soon as it is whole,
 * so that a batch never holds more than one file on the host. A bad part
 * stops the upload there (the files before it stay written). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "e2b/files.h"
#include "fsutil.h"

#define READ_CHUNK (64u << 10)

struct upload {
	struct host *h;
	const char *id;
	const struct e2b_user *user;
	const char *qpath;
	json_t *out;
	struct thaw_err **err;
	size_t parts;
	int fd;			       /* the part being received, or -1 */
	char path[FILE_PATH_MAX + 1];  /* where it goes (before resolving) */
	size_t path_len;
	uint64_t size;
	bool failed;
};

static int part_flush(struct upload *u)
{
	if (u->fd < 0)
		return 0;
	_cleanup_close_ int fd = u->fd;
	u->fd = -1;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return err_sys(u->err, "lseek");
	return e2b_write_one(u->h, u->id, u->user, u->path, u->path_len, fd, u->out, u->err);
}

static int part_start(struct upload *u, const char *key, const char *filename)
{
	const char *target;
	if (part_flush(u) < 0 || e2b_part_target(key, filename, u->qpath, u->parts, &target, u->err) < 0)
		return -1;
	size_t n = strlen(target);
	if (n > FILE_PATH_MAX)
		return err_set(u->err, ERR_INVALID, "file %zu's path is over %d bytes", u->parts + 1,
			       FILE_PATH_MAX);
	memcpy(u->path, target, n + 1);
	u->path_len = n;
	u->parts++;
	u->size = 0;
	u->fd = open(u->h->cfg->data_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (u->fd < 0)
		return err_sys(u->err, "a temp file for an upload");
	return 0;
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *filename, const char *content_type,
			       const char *transfer_encoding, const char *data, uint64_t off,
			       size_t size)
{
	(void)kind;
	(void)content_type;
	(void)transfer_encoding;
	struct upload *u = cls;
	if (off == 0 && part_start(u, key, filename) < 0) {
		u->failed = true;
		return MHD_NO;
	}
	if (size && fs_pwrite_all(u->fd, data, size, (off_t)u->size, u->err) < 0) {
		u->failed = true;
		return MHD_NO;
	}
	u->size += size;
	return MHD_YES;
}

/* Feeds the body to pp; 0, or the first error (a part's, or the form's). */
static int feed(struct MHD_PostProcessor *pp, int fd, struct upload *u)
{
	_cleanup_free_ char *chunk = xmalloc(READ_CHUNK);
	for (;;) {
		ssize_t n = read(fd, chunk, READ_CHUNK);
		if (n < 0)
			return err_sys(u->err, "reading the upload");
		if (n == 0)
			return 0;
		if (MHD_post_process(pp, chunk, (size_t)n) != MHD_YES) {
			if (!u->failed)
				err_set(u->err, ERR_INVALID, "the multipart body is malformed");
			return -1;
		}
	}
}

int e2b_multipart_write(struct api_req *r, struct host *h, const char *id,
			const struct e2b_user *user, const char *qpath, int fd, json_t *out,
			struct thaw_err **err)
{
	struct upload u = { .h = h, .id = id, .user = user, .qpath = qpath, .out = out,
			    .err = err, .fd = -1 };
	struct MHD_PostProcessor *pp = MHD_create_post_processor(r->conn, READ_CHUNK, on_part, &u);
	if (!pp)
		return err_set(err, ERR_INVALID,
			       "a multipart/form-data body needs its boundary in Content-Type");
	int rc = feed(pp, fd, &u);
	/* MHD_NO here: the form ended early or had stray bytes */
	bool whole = MHD_destroy_post_processor(pp) == MHD_YES;
	if (rc == 0 && !whole)
		rc = err_set(err, ERR_INVALID, "the multipart body is cut short or malformed");
	if (rc == 0)
		rc = part_flush(&u);
	if (u.fd >= 0)
		close(u.fd);
	if (rc == 0 && u.parts == 0)
		rc = err_set(err, ERR_INVALID, "the form holds no file (a part named \"file\")");
	return rc;
}
