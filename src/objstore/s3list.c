/* ListObjectsV2: GET /bucket?continuation-token=..&list-type=2&prefix=..,
 * page after page, each answer checked (keys in order, under the prefix,
 * sizes that are numbers, a token whenever the listing is truncated). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "objstore_int.h"
#include "s3.h"
#include "s3http.h"
#include "s3uri.h"
#include "s3xml.h"

#define PAGE_MAX (8u << 20)
#define TOKEN_MAX 4096
#define KEY_MAX 1024

static int parse_size(const char *doc, size_t start, size_t n, uint64_t *out)
{
	_cleanup_free_ char *txt = NULL;
	if (n == 0 || n > 20 || s3xml_text(doc + start, n, 20, &txt) < 0)
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(txt, &end, 10);
	if (errno || *end || txt[0] < '0' || txt[0] > '9')
		return -1;
	*out = v;
	return 0;
}

/* LastModified, "2026-12-06T09:13:56.628Z" (ISO 8601, UTC): seconds. */
static int parse_time(const char *doc, size_t start, size_t n, int64_t *out)
{
	_cleanup_free_ char *txt = NULL;
	if (n == 0 || n > 40 || s3xml_text(doc + start, n, 40, &txt) < 0)
		return -1;
	struct tm tm = { 0 };
	const char *end = strptime(txt, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return -1;
	if (*end == '.')
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	if (strcmp(end, "Z") && strcmp(end, "+00:00"))
		return -1;
	time_t t = timegm(&tm);
	if (t < 0)
		return -1;
	*out = (int64_t)t;
	return 0;
}

/* One <Contents> element: Key, Size and LastModified (-1 when absent). */
static int parse_entry(const char *doc, size_t start, size_t n, char **key, uint64_t *size,
		       int64_t *modified)
{
	size_t pos = 0, ks, kn, ss, sn, ms, mn;
	const char *e = doc + start;
	if (s3xml_next(e, n, &pos, "Key", &ks, &kn) != 1)
		return -1;
	pos = 0;
	if (s3xml_next(e, n, &pos, "Size", &ss, &sn) != 1 || parse_size(e, ss, sn, size) < 0)
		return -1;
	pos = 0;
	*modified = -1;
	int found = s3xml_next(e, n, &pos, "LastModified", &ms, &mn);
	if (found < 0 || (found == 1 && parse_time(e, ms, mn, modified) < 0))
		return -1;
	return s3xml_text(e + ks, kn, KEY_MAX, key);
}

/* Whether key comes after last in a listing. S3 lists in byte order; a
 * store that walks directories (s3rver) lists "a/x" before "a-b/y", as
 * if '/' sorted before every other byte: either order is taken. What is
 * refused is a key at or before the last one in both: a page repeated,
 * which would list forever. */
static bool key_after(const char *key, const char *last)
{
	if (strcmp(key, last) > 0)
		return true;
	for (;; key++, last++) {
		unsigned char k = *key == '/' ? 1 : (unsigned char)*key;
		unsigned char l = *last == '/' ? 1 : (unsigned char)*last;
		if (k != l)
			return k > l;
		if (!k)
			return false;
	}
}

static int truncated(const char *doc, size_t len, int *out)
{
	_cleanup_free_ char *v = NULL;
	int rc = s3xml_get(doc, len, "IsTruncated", 8, &v);
	if (rc < 0)
		return -1;
	if (rc == 0 || !strcmp(v, "false")) {
		*out = 0;
		return 0;
	}
	if (strcmp(v, "true"))
		return -1;
	*out = 1;
	return 0;
}

int s3_list_parse(const char *doc, size_t len, const char *prefix, char **last, objstore_list_fn fn,
		  void *ctx, char **next, struct thaw_err **err)
{
	size_t pos = 0, start, n;
	int more, rc;
	if (!doc || memmem(doc, len, "<ListBucketResult", 17) == NULL || truncated(doc, len, &more))
		return err_set(err, ERR_CORRUPT, "malformed listing");
	while ((rc = s3xml_next(doc, len, &pos, "Contents", &start, &n)) == 1) {
		_cleanup_free_ char *key = NULL;
		uint64_t size;
		int64_t modified;
		if (parse_entry(doc, start, n, &key, &size, &modified) < 0)
			return err_set(err, ERR_CORRUPT, "malformed listing entry");
		if (strncmp(key, prefix, strlen(prefix)) || (*last && !key_after(key, *last)))
			return err_set(err, ERR_CORRUPT,
				       "listing out of order or outside the "
				       "prefix at \"%.64s\"",
				       key);
		free(*last);
		*last = xstrdup(key);
		if (fn(key, size, modified, ctx) < 0)
			return err_set(err, ERR_INTERNAL, "stopped by the caller at %s", key);
	}
	if (rc < 0)
		return err_set(err, ERR_CORRUPT, "malformed listing");
	char *token = NULL;
	if (more && s3xml_get(doc, len, "NextContinuationToken", TOKEN_MAX, &token) != 1)
		return err_set(err, ERR_CORRUPT, "truncated listing without a continuation token");
	if (token && !*token) {
		free(token);
		return err_set(err, ERR_CORRUPT, "empty continuation token");
	}
	*next = token;
	return 0;
}

static int list_page(struct objstore *s, const char *prefix, unsigned page_size, const char *token,
		     struct s3_resp *resp, struct thaw_err **err)
{
	char max_keys[16];
	struct s3_param q[4] = { { "list-type", "2" }, { "prefix", prefix } };
	size_t nq = 2;
	if (token)
		q[nq++] = (struct s3_param){ "continuation-token", token };
	if (page_size) {
		snprintf(max_keys, sizeof(max_keys), "%u", page_size);
		q[nq++] = (struct s3_param){ "max-keys", max_keys };
	}
	_cleanup_buf_ struct buf query = { 0 };
	s3uri_query(&query, q, nq);
	struct s3_req r = { .method = "GET",
			    .query = buf_cstr(&query),
			    .what = "LIST",
			    .fd = -1,
			    .max_body = PAGE_MAX };
	if (s3_request(s, &r, resp, err) < 0)
		return -1;
	if (resp->status != 200)
		return s3_status_err(resp, err);
	return 0;
}

int s3_list_pages(struct objstore *s, const char *prefix, unsigned page_size, objstore_list_fn fn,
		  void *ctx, struct thaw_err **err)
{
	_cleanup_free_ char *last = NULL;
	_cleanup_free_ char *token = NULL;
	for (unsigned page = 0;; page++) {
		_cleanup_resp_ struct s3_resp resp = { 0 };
		char *next = NULL;
		if (list_page(s, prefix, page_size, token, &resp, err) < 0 ||
		    s3_list_parse((const char *)resp.body.data, resp.body.len, prefix, &last, fn,
				  ctx, &next, err) < 0)
			return err_wrap(err, "page %u", page + 1);
		if (!next)
			return 0;
		/* A store that hands back the same token would list forever. */
		if (token && !strcmp(next, token)) {
			free(next);
			return err_set(err, ERR_CORRUPT,
				       "page %u: the same continuation token again", page + 1);
		}
		free(token);
		token = next;
	}
}
