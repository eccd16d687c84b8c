/* S3 requests over libcurl: SigV4 signing (CURLOPT_AWS_SIGV4), a pool of
 * easy handles whose connections stay alive between calls, and the retry
 * loop with its deadlines.
 *
 * libcurl 7.88 (Debian 12) signs the path and query as given and hashes
 * no body it does not hold itself: every request carries its own
 * x-amz-content-sha256 header and a query built by s3uri_query. */
#include "s3http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "objstore_int.h"
#include "s3uri.h"
#include "s3xml.h"
#include "timeutil.h"

#define POOL_KEEP 16
#define MAX_ATTEMPTS 10
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 2000
#define ERROR_BODY_MAX (64u << 10)

struct s3_pool {
	pthread_mutex_t mu;
	CURL *idle[POOL_KEEP];
	size_t n;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int s3_pool_new(struct s3_pool **out, struct thaw_err **err)
{
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return err_set(err, ERR_INTERNAL, "initialising libcurl: %s",
			       curl_easy_strerror(curl_init_rc));
	struct s3_pool *p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	*out = p;
	return 0;
}

void s3_pool_free(struct s3_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		curl_easy_cleanup(p->idle[i]);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static CURL *pool_take(struct s3_pool *p)
{
	CURL *h = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->n > 0)
		h = p->idle[--p->n];
	pthread_mutex_unlock(&p->mu);
	if (!h)
		h = curl_easy_init();
	if (!h)
		abort(); /* allocation failure, as xmalloc */
	return h;
}

/* Back to the pool: curl_easy_reset clears the options and keeps the
 * live connections. */
static void pool_give(struct s3_pool *p, CURL *h)
{
	curl_easy_reset(h);
	pthread_mutex_lock(&p->mu);
	if (p->n < POOL_KEEP) {
		p->idle[p->n++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	if (h)
		curl_easy_cleanup(h);
}

/* ---- one attempt ---------------------------------------------------- */

struct xfer {
	const struct s3_req *r;
	struct s3_resp *resp;
	CURL *h;
	uint64_t sent;
	uint64_t last_progress_ns, stall_ns;
	curl_off_t last_dl, last_ul;
	int stalled, too_large, ignored_range, read_failed, read_errno;
};

static size_t on_read(char *dst, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	const struct s3_req *r = x->r;
	size_t want = size * nmemb;
	if (r->len - x->sent < want)
		want = (size_t)(r->len - x->sent);
	if (want == 0)
		return 0;
	if (r->fd < 0) {
		memcpy(dst, (const char *)r->data + x->sent, want);
		x->sent += want;
		return want;
	}
	ssize_t n;
	do
		n = pread(r->fd, dst, want, (off_t)(r->fd_off + x->sent));
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		x->read_failed = 1;
		x->read_errno = n < 0 ? errno : 0;
		return CURL_READFUNC_ABORT;
	}
	x->sent += (size_t)n;
	return (size_t)n;
}

static long current_status(CURL *h)
{
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

/* A ranged answer goes to dst: a 206, or a 200 (a store that ignored
 * Range) only from offset 0 and only as long as it fits. */
static size_t to_dst(struct xfer *x, const char *p, size_t n, long status)
{
	const struct s3_req *r = x->r;
	struct s3_resp *resp = x->resp;
	if ((status == 200 && r->range_off != 0) || r->range_len - resp->got < n) {
		x->ignored_range = status == 200;
		x->too_large = status != 200;
		return 0;
	}
	memcpy((char *)r->dst + resp->got, p, n);
	resp->got += n;
	return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	long status = current_status(x->h);
	if (x->r->ranged && (status == 206 || status == 200))
		return to_dst(x, p, n, status);
	size_t max = status >= 300 ? ERROR_BODY_MAX : x->r->max_body;
	if (x->resp->body.len + n > max) {
		/* An error body is only for the message: keep its start. */
		if (status >= 300)
			return n;
		x->too_large = 1;
		return 0;
	}
	buf_append(&x->resp->body, p, n);
	return n;
}

/* Copies the value of header "name:" in line (len bytes), trimmed. */
static int header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	if (len <= nl || strncasecmp(line, name, nl) || line[nl] != ':')
		return 0;
	const char *v = line + nl + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	size_t n = (size_t)(end - v) < cap - 1 ? (size_t)(end - v) : cap - 1;
	memcpy(out, v, n);
	out[n] = '\0';
	return 1;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	struct s3_resp *resp = x->resp;
	char num[32];
	if (n >= 5 && !memcmp(p, "HTTP/", 5)) { /* a new answer (after a 100) */
		resp->etag[0] = resp->content_range[0] = '\0';
		resp->content_length = -1;
	} else if (header_value(p, n, "content-length", num, sizeof(num))) {
		char *end;
		errno = 0;
		long long v = strtoll(num, &end, 10);
		resp->content_length = (errno || *end || end == num || v < 0) ? -1 : v;
	} else if (!header_value(p, n, "etag", resp->etag, sizeof(resp->etag))) {
		header_value(p, n, "content-range", resp->content_range,
			     sizeof(resp->content_range));
	}
	return n;
}

/* Aborts an attempt that made no progress for attempt_ms (a stalled
 * store: connected, maybe answered headers, then nothing). */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)dltotal;
	(void)ultotal;
	struct xfer *x = ud;
	uint64_t now = time_mono_ns();
	if (dlnow != x->last_dl || ulnow != x->last_ul) {
		x->last_dl = dlnow;
		x->last_ul = ulnow;
		x->last_progress_ns = now;
		return 0;
	}
	if (now - x->last_progress_ns > x->stall_ns) {
		x->stalled = 1;
		return 1;
	}
	return 0;
}

static void set_method(CURL *h, const struct s3_req *r, struct xfer *x)
{
	if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "PUT")) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->len);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
	} else if (!strcmp(r->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->len ? (const char *)r->data : "");
	} else if (strcmp(r->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	}
}

struct call {
	struct objstore *s;
	const char *url;
	struct curl_slist *headers;
	char sigv4[96];
};

static CURLcode run_attempt(const struct call *c, CURL *h, struct xfer *x, uint64_t left_ms,
			    char *errbuf)
{
	const struct objstore *s = c->s;
	uint64_t attempt_ms = s->attempt_ms < left_ms ? s->attempt_ms : left_ms;
	curl_easy_setopt(h, CURLOPT_URL, c->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
	curl_easy_setopt(h, CURLOPT_USERNAME, s->access_key);
	curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret_key);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)attempt_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left_ms);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	set_method(h, x->r, x);
	x->last_progress_ns = time_mono_ns();
	x->stall_ns = attempt_ms * 1000000ull;
	errbuf[0] = '\0';
	return curl_easy_perform(h);
}

/* ---- the retry loop ------------------------------------------------- */

enum outcome { FINAL, FAILED, RETRY_ANSWER, RETRY_TRANSPORT, RETRY_TIMEOUT };

static void resp_reset(struct s3_resp *resp)
{
	buf_reset(&resp->body);
	resp->status = 0;
	resp->got = 0;
	resp->etag[0] = resp->content_range[0] = '\0';
	resp->content_length = -1;
}

void s3_resp_free(struct s3_resp *resp)
{
	buf_free(&resp->body);
}

/* "503 SlowDown: Please reduce your request rate" from an answer. */
static void describe_answer(const struct s3_resp *resp, char *out, size_t cap)
{
	_cleanup_free_ char *code = NULL;
	_cleanup_free_ char *msg = NULL;
	const char *doc = (const char *)resp->body.data;
	if (doc) {
		if (s3xml_get(doc, resp->body.len, "Code", 128, &code) <= 0)
			code = NULL;
		if (s3xml_get(doc, resp->body.len, "Message", 512, &msg) <= 0)
			msg = NULL;
	}
	snprintf(out, cap, "store answered %ld%s%s%s%s", resp->status, code ? " " : "",
		 code ? code : "", msg ? ": " : "", msg ? msg : "");
}

static int final_transport(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return 1;
	default:
		return 0;
	}
}

/* Judges one attempt: a final answer, a failure of our own, or something
 * worth another attempt (why in last). */
static enum outcome judge(CURLcode rc, const struct xfer *x, const char *errbuf,
			  struct s3_resp *resp, char *last, size_t cap, struct thaw_err **err)
{
	if (rc == CURLE_OK) {
		resp->status = current_status(x->h);
		if (resp->status >= 500 || resp->status == 429) {
			describe_answer(resp, last, cap);
			return RETRY_ANSWER;
		}
		return FINAL;
	}
	if (x->too_large)
		return err_set(err, ERR_TOO_LARGE, "the answer is larger than wanted"), FAILED;
	if (x->ignored_range)
		return err_set(err, ERR_CORRUPT, "the store ignored the Range header"), FAILED;
	if (x->read_failed) {
		errno = x->read_errno;
		if (!errno)
			return err_set(err, ERR_INVALID,
				       "the source file is shorter than %llu bytes",
				       (unsigned long long)x->r->len),
			       FAILED;
		return err_sys(err, "reading the source file"), FAILED;
	}
	if (final_transport(rc))
		return err_set(err, ERR_INVALID, "%s", *errbuf ? errbuf : curl_easy_strerror(rc)),
		       FAILED;
	if (x->stalled) {
		snprintf(last, cap, "no progress for %llu ms",
			 (unsigned long long)(x->stall_ns / 1000000ull));
		return RETRY_TIMEOUT;
	}
	snprintf(last, cap, "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
	return rc == CURLE_OPERATION_TIMEDOUT ? RETRY_TIMEOUT : RETRY_TRANSPORT;
}

static _Thread_local uint64_t jitter_state;

static uint64_t backoff_ms(int attempt)
{
	if (!jitter_state)
		jitter_state = time_mono_ns() ^ (uint64_t)(uintptr_t)&jitter_state;
	jitter_state ^= jitter_state << 13;
	jitter_state ^= jitter_state >> 7;
	jitter_state ^= jitter_state << 17;
	uint64_t d = BACKOFF_BASE_MS << (attempt < 5 ? attempt - 1 : 4);
	if (d > BACKOFF_CAP_MS)
		d = BACKOFF_CAP_MS;
	/* Half fixed, half random: many clients that failed together do
	 * not come back together. */
	return d / 2 + jitter_state % (d / 2 + 1);
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static char *request_url(const struct objstore *s, const struct s3_req *r)
{
	_cleanup_buf_ struct buf b = { 0 };
	buf_printf(&b, "%s/", s->endpoint);
	s3uri_encode(&b, s->bucket, 0);
	if (r->key) {
		buf_append_str(&b, "/");
		s3uri_encode(&b, r->key, 1);
	}
	if (r->query)
		buf_append_str(&b, r->query);
	return buf_steal(&b, NULL);
}

static struct curl_slist *request_headers(const struct s3_req *r)
{
	struct curl_slist *l = NULL;
	char line[160];
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s",
		 r->payload_sha256 ? r->payload_sha256 : "UNSIGNED-PAYLOAD");
	l = curl_slist_append(l, line);
	/* No "Expect:" to drop curl's 100-continue: curl 7.88 would sign the
	 * header it then does not send, and the store refuse the signature. */
	if (r->ranged) {
		snprintf(line, sizeof(line), "Range: bytes=%llu-%llu",
			 (unsigned long long)r->range_off,
			 (unsigned long long)(r->range_off + r->range_len - 1));
		l = curl_slist_append(l, line);
	}
	if (!l)
		abort();
	return l;
}

static int give_up(const struct objstore *s, enum outcome last_kind, int attempts,
		   uint64_t start_ns, const char *last, struct thaw_err **err)
{
	uint64_t took = (time_mono_ns() - start_ns) / 1000000ull;
	if (last_kind == RETRY_TIMEOUT)
		return err_set(err, ERR_TIMEOUT, "no answer within %u ms (%d attempt%s): %s",
			       s->deadline_ms, attempts, attempts == 1 ? "" : "s", last);
	return err_set(err, ERR_UNAVAILABLE, "store unavailable (%d attempt%s in %llu ms): %s",
		       attempts, attempts == 1 ? "" : "s", (unsigned long long)took, last);
}

int s3_request(struct objstore *s, const struct s3_req *r, struct s3_resp *resp,
	       struct thaw_err **err)
{
	struct s3_pool *pool = s->impl;
	_cleanup_free_ char *url = request_url(s, r);
	struct call c = { .s = s, .url = url, .headers = request_headers(r) };
	snprintf(c.sigv4, sizeof(c.sigv4), "aws:amz:%s:s3", s->region);
	uint64_t start = time_mono_ns(), deadline = start + s->deadline_ms * 1000000ull;
	char last[768] = "no attempt made", errbuf[CURL_ERROR_SIZE];
	enum outcome kind = RETRY_TIMEOUT;
	int attempt = 0, rc = -1;
	for (;;) {
		uint64_t now = time_mono_ns();
		if (now >= deadline)
			break;
		attempt++;
		resp_reset(resp);
		struct xfer x = { .r = r, .resp = resp, .h = pool_take(pool) };
		CURLcode cc = run_attempt(&c, x.h, &x, (deadline - now + 999999) / 1000000, errbuf);
		kind = judge(cc, &x, errbuf, resp, last, sizeof(last), err);
		pool_give(pool, x.h);
		if (kind == FINAL || kind == FAILED) {
			rc = kind == FINAL ? 0 : -1;
			goto out;
		}
		uint64_t delay = backoff_ms(attempt);
		if (attempt >= MAX_ATTEMPTS || time_mono_ns() + delay * 1000000ull >= deadline)
			break;
		atomic_fetch_add(&s->retries, 1);
		log_info("objstore.retry",
			 "op=\"%s\" key=\"%s\" attempt=%d error=\"%s\" delay_ms=%llu",
			 r->what ? r->what : r->method, r->key ? r->key : "", attempt, last,
			 (unsigned long long)delay);
		sleep_ms(delay);
	}
	rc = give_up(s, kind, attempt, start, last, err);
out:
	curl_slist_free_all(c.headers);
	return rc;
}

int s3_status_err(const struct s3_resp *resp, struct thaw_err **err)
{
	static const struct {
		long status;
		enum err_code code;
	} map[] = {
		{ 401, ERR_UNAUTHORIZED }, { 403, ERR_FORBIDDEN }, { 404, ERR_NOT_FOUND },
		{ 409, ERR_CONFLICT },	   { 413, ERR_TOO_LARGE }, { 416, ERR_CORRUPT },
	};
	char what[768];
	describe_answer(resp, what, sizeof(what));
	enum err_code code = resp->status >= 500 ? ERR_UNAVAILABLE : ERR_INVALID;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (map[i].status == resp->status)
			code = map[i].code;
	return err_set(err, code, "%s", what);
}
