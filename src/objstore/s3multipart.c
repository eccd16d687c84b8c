/* Multipart upload: initiate, parts of OBJSTORE_PART_SIZE (or larger, to
 * stay under OBJSTORE_MAX_PARTS) uploaded by up to OBJSTORE_PART_THREADS
 * threads, each part retried on its own (s3_request), then complete.
 * On any failure the upload is aborted so that no parts stay behind; the
 * object appears only when complete succeeds. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "objstore_int.h"
#include "s3.h"
#include "s3http.h"
#include "s3uri.h"
#include "s3xml.h"
#include "sha256.h"

#define UPLOAD_ID_MAX 1024

struct part {
	uint64_t off, len;
	char etag[128];
};

struct upload {
	struct objstore *s;
	const char *key;
	const char *id;
	int fd;
	struct part *parts;
	size_t nparts;
	pthread_mutex_t mu;
	size_t next;		 /* the next part to send */
	struct thaw_err *failed; /* the first failure; owned */
};

static char *part_query(const char *id, size_t number)
{
	char num[24];
	snprintf(num, sizeof(num), "%zu", number);
	struct s3_param q[] = { { "partNumber", num }, { "uploadId", id } };
	_cleanup_buf_ struct buf b = { 0 };
	s3uri_query(&b, q, number ? 2 : 0);
	if (!number)
		s3uri_query(&b, q + 1, 1);
	return buf_steal(&b, NULL);
}

static int post(struct objstore *s, const char *key, const char *query, const char *what,
		const char *body, struct s3_resp *resp, struct thaw_err **err)
{
	char sha[SHA256_HEX_LEN + 1];
	size_t len = strlen(body);
	sha256_hex(body, len, sha);
	struct s3_req r = { .method = "POST",
			    .key = key,
			    .query = query,
			    .what = what,
			    .data = body,
			    .fd = -1,
			    .len = len,
			    .payload_sha256 = sha,
			    .max_body = 1u << 20 };
	if (s3_request(s, &r, resp, err) < 0)
		return -1;
	if (resp->status != 200)
		return s3_status_err(resp, err);
	/* S3 may answer 200 to a POST and put an error in the body. */
	if (resp->body.data && memmem(resp->body.data, resp->body.len, "<Error>", 7))
		return err_set(err, ERR_UNAVAILABLE, "%s: the store answered an error", what);
	return 0;
}

static int initiate(struct objstore *s, const char *key, char **id, struct thaw_err **err)
{
	_cleanup_resp_ struct s3_resp resp = { 0 };
	/* "uploads=": the canonical form S3 signs for a bare "uploads". */
	if (post(s, key, "?uploads=", "initiate multipart upload", "", &resp, err) < 0)
		return -1;
	char *v = NULL;
	if (s3xml_get((const char *)resp.body.data, resp.body.len, "UploadId", UPLOAD_ID_MAX, &v) !=
		    1 ||
	    !*v) {
		free(v);
		return err_set(err, ERR_CORRUPT, "initiate multipart upload: no UploadId");
	}
	*id = v;
	return 0;
}

static int send_part(struct upload *u, size_t i, struct thaw_err **err)
{
	struct part *p = &u->parts[i];
	_cleanup_free_ char *query = part_query(u->id, i + 1);
	char what[48];
	snprintf(what, sizeof(what), "PUT part %zu", i + 1);
	struct s3_req r = { .method = "PUT",
			    .key = u->key,
			    .query = query,
			    .what = what,
			    .fd = u->fd,
			    .fd_off = p->off,
			    .len = p->len,
			    .max_body = 64u << 10 };
	_cleanup_resp_ struct s3_resp resp = { 0 };
	if (s3_request(u->s, &r, &resp, err) < 0 ||
	    (resp.status != 200 && s3_status_err(&resp, err) < 0))
		return err_wrap(err, "part %zu", i + 1);
	if (!resp.etag[0] || strchr(resp.etag, '<') || strchr(resp.etag, '&'))
		return err_set(err, ERR_CORRUPT, "part %zu: answer without a usable ETag", i + 1);
	memcpy(p->etag, resp.etag, sizeof(p->etag));
	return 0;
}

static void *part_worker(void *arg)
{
	struct upload *u = arg;
	for (;;) {
		pthread_mutex_lock(&u->mu);
		size_t i = u->next < u->nparts && !u->failed ? u->next++ : SIZE_MAX;
		pthread_mutex_unlock(&u->mu);
		if (i == SIZE_MAX)
			return NULL;
		struct thaw_err *e = NULL;
		if (send_part(u, i, &e) == 0)
			continue;
		pthread_mutex_lock(&u->mu);
		if (!u->failed)
			u->failed = steal_pointer(&e);
		pthread_mutex_unlock(&u->mu);
		err_free(e);
	}
}

static int send_parts(struct upload *u, struct thaw_err **err)
{
	pthread_t th[OBJSTORE_PART_THREADS];
	size_t started = 0;
	for (; started < OBJSTORE_PART_THREADS && started < u->nparts; started++)
		if (pthread_create(&th[started], NULL, part_worker, u) != 0)
			break;
	if (started == 0)
		part_worker(u);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (!u->failed)
		return 0;
	err_set(err, u->failed->code, "%s", u->failed->msg);
	return -1;
}

static char *complete_body(const struct upload *u)
{
	_cleanup_buf_ struct buf b = { 0 };
	buf_append_str(&b, "<CompleteMultipartUpload>");
	for (size_t i = 0; i < u->nparts; i++) {
		buf_printf(&b, "<Part><PartNumber>%zu</PartNumber><ETag>", i + 1);
		for (const char *c = u->parts[i].etag; *c; c++)
			buf_append_str(&b, *c == '"' ? "&quot;" : (char[2]){ *c, 0 });
		buf_append_str(&b, "</ETag></Part>");
	}
	buf_append_str(&b, "</CompleteMultipartUpload>");
	return buf_steal(&b, NULL);
}

static int complete(struct upload *u, struct thaw_err **err)
{
	_cleanup_free_ char *query = part_query(u->id, 0);
	_cleanup_free_ char *body = complete_body(u);
	_cleanup_resp_ struct s3_resp resp = { 0 };
	return post(u->s, u->key, query, "complete multipart upload", body, &resp, err);
}

/* Best effort: a store that refuses leaves the parts to its lifecycle
 * rules; the object itself never appeared. */
static void abort_upload(struct upload *u)
{
	_cleanup_free_ char *query = part_query(u->id, 0);
	struct s3_req r = { .method = "DELETE",
			    .key = u->key,
			    .query = query,
			    .what = "abort multipart upload",
			    .fd = -1,
			    .max_body = 64u << 10 };
	_cleanup_resp_ struct s3_resp resp = { 0 };
	_cleanup_err_ struct thaw_err *e = NULL;
	s3_request(u->s, &r, &resp, &e);
}

static void plan_parts(struct upload *u, uint64_t len)
{
	uint64_t size = OBJSTORE_PART_SIZE;
	while ((len + size - 1) / size > OBJSTORE_MAX_PARTS)
		size *= 2;
	u->nparts = (size_t)((len + size - 1) / size);
	u->parts = xcalloc(u->nparts, sizeof(*u->parts));
	for (size_t i = 0; i < u->nparts; i++) {
		u->parts[i].off = (uint64_t)i * size;
		u->parts[i].len = len - u->parts[i].off < size ? len - u->parts[i].off : size;
	}
}

int s3_multipart_put(struct objstore *s, const char *key, int fd, uint64_t len,
		     struct thaw_err **err)
{
	_cleanup_free_ char *id = NULL;
	if (initiate(s, key, &id, err) < 0)
		return -1;
	struct upload u = { .s = s, .key = key, .id = id, .fd = fd };
	pthread_mutex_init(&u.mu, NULL);
	plan_parts(&u, len);
	int rc = send_parts(&u, err);
	if (rc == 0)
		rc = complete(&u, err);
	if (rc < 0)
		abort_upload(&u);
	err_free(u.failed);
	free(u.parts);
	pthread_mutex_destroy(&u.mu);
	return rc;
}
