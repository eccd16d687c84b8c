#include "control/relay.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "http_hop.h"
#include "log.h"
#include "reqid.h"
#include "timeutil.h"

/* No answer at all (headers) within this: 504. A long answer (an exec
 * printing for hours) is not bounded here: the host bounds its commands. */
#define HEADERS_TIMEOUT_S 330
#define CONNECT_TIMEOUT_MS 3000

/* One relayed request; freed by whichever of the two sides (the handler,
 * the transfer thread) lets go last. */
struct relay {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int refs;
	bool headers_done, finished;
	long status;
	struct buf headers; /* "Name: value\n", hop-by-hop ones left out */
	char error[CURL_ERROR_SIZE];
	CURLcode rc;
	int wfd; /* the pipe's write end: the transfer thread's */
	CURL *c;
	struct curl_slist *req_headers;
	char *url;
	int body_fd; /* an upload's temp file (dup), or -1 */
	char *body;  /* a copy of the request body (the handler's is gone) */
	size_t body_len;
	int stream_fd;	   /* a streamed body: the socket it arrives on, or -1 */
	bool body_aborted; /* ... and its client went before it ended */
	char req_id[LOG_REQID_SIZE]; /* the relayed request's, for the transfer's lines */
};

/* A streamed request body: where it arrives, and how long it is. */
struct relay_body {
	int fd;
	bool has;     /* false: no body at all */
	int64_t size; /* -1: unknown (chunked) */
};

/* The host's address, for the error messages of an answer that comes
 * after the relay_target is gone (a streamed body's). */
struct relay_target_addr {
	char address[256];
};

static void relay_put(struct relay *rl)
{
	pthread_mutex_lock(&rl->lock);
	bool last = --rl->refs == 0;
	pthread_mutex_unlock(&rl->lock);
	if (!last)
		return;
	curl_easy_cleanup(rl->c);
	curl_slist_free_all(rl->req_headers);
	buf_free(&rl->headers);
	if (rl->body_fd >= 0)
		close(rl->body_fd);
	if (rl->stream_fd >= 0)
		close(rl->stream_fd);
	free(rl->body);
	free(rl->url);
	pthread_cond_destroy(&rl->cond);
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct relay *rl = ud;
	size_t len = size * n;
	pthread_mutex_lock(&rl->lock);
	if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
		buf_reset(&rl->headers); /* a new status line (after a 100) */
	} else if (len <= 2) {
		long st = 0;
		curl_easy_getinfo(rl->c, CURLINFO_RESPONSE_CODE, &st);
		if (st >= 200) {
			rl->status = st;
			rl->headers_done = true;
			pthread_cond_broadcast(&rl->cond);
		}
	} else {
		const char *colon = memchr(p, ':', len);
		if (colon && !http_hop_header(p, (size_t)(colon - p)))
			buf_append(&rl->headers, p, len);
	}
	pthread_mutex_unlock(&rl->lock);
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct relay *rl = ud;
	size_t len = size * n, done = 0;
	while (done < len) {
		ssize_t w = write(rl->wfd, p + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 0; /* the client went away: the transfer ends */
		done += (size_t)w;
	}
	return len;
}

static size_t read_body(char *p, size_t size, size_t n, void *ud)
{
	struct relay *rl = ud;
	ssize_t r = read(rl->body_fd, p, size * n);
	return r < 0 ? CURL_READFUNC_ABORT : (size_t)r;
}

static void *transfer_main(void *arg)
{
	struct relay *rl = arg;
	log_set_request_id(rl->req_id);
	CURLcode rc = curl_easy_perform(rl->c);
	close(rl->wfd); /* the client's response ends here */
	pthread_mutex_lock(&rl->lock);
	rl->rc = rc;
	rl->finished = true;
	pthread_cond_broadcast(&rl->cond);
	pthread_mutex_unlock(&rl->lock);
	relay_put(rl);
	return NULL;
}

static struct curl_slist *identity(struct curl_slist *h, const struct relay_target *t)
{
	/* No credential: a request the host takes without a key (a signed
	 * file URL), relayed as anonymous as it came. */
	if (t->credential[0]) {
		_cleanup_free_ char *auth = xasprintf("Authorization: Bearer %s", t->credential);
		h = curl_slist_append(h, auth);
	}
	if (t->on_behalf_of) {
		_cleanup_free_ char *as = xasprintf("Thaw-On-Behalf-Of: %s", t->on_behalf_of);
		h = curl_slist_append(h, as);
	}
	if (t->idempotency_key) {
		_cleanup_free_ char *k = xasprintf("Idempotency-Key: %s", t->idempotency_key);
		h = curl_slist_append(h, k);
	}
	/* The request this call serves goes by the same id on the host: one
	 * id finds it in both programs' logs (none: the host makes one). */
	const char *id = log_request_id();
	if (id) {
		_cleanup_free_ char *line = xasprintf(REQID_HEADER ": %s", id);
		h = curl_slist_append(h, line);
	}
	return curl_slist_append(h, "Expect:");
}

static void setup(struct relay *rl, const char *method, const struct relay_target *t)
{
	CURL *c = rl->c;
	curl_easy_setopt(c, CURLOPT_URL, rl->url);
	/* The host sees the path the client sent, dot segments and all: its
	 * own routing (and the user it acts for) decides what it reaches. */
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, rl->error);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, rl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, rl);
	rl->req_headers = identity(rl->req_headers, t);
}

static void add_client_headers(struct relay *rl, struct MHD_Connection *conn)
{
	static const char *const pass[] = { "Content-Type", "Accept", "Range", NULL };
	for (size_t i = 0; pass[i]; i++) {
		const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, pass[i]);
		if (v && !strpbrk(v, "\r\n")) {
			_cleanup_free_ char *h = xasprintf("%s: %s", pass[i], v);
			rl->req_headers = curl_slist_append(rl->req_headers, h);
		}
	}
}

static void set_body(struct relay *rl, struct api_req *r)
{
	CURL *c = rl->c;
	if (r->body_fd >= 0) {
		rl->body_fd = fcntl(r->body_fd, F_DUPFD_CLOEXEC, 3);
		lseek(rl->body_fd, 0, SEEK_SET);
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
		curl_easy_setopt(c, CURLOPT_READDATA, rl);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_size);
	} else if (r->body_len || strcmp(r->method, "GET")) {
		rl->body = xmalloc(r->body_len + 1);
		memcpy(rl->body, r->body ? r->body : "", r->body_len);
		rl->body_len = r->body_len;
		if (strcmp(r->method, "GET") && strcmp(r->method, "DELETE") &&
		    strcmp(r->method, "HEAD")) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, rl->body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rl->body_len);
		}
	}
	if (!strcmp(r->method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
}

/* curl reads a streamed body as the client sends it; the end of the
 * client's body is the end of the socket. */
static size_t read_stream(char *p, size_t size, size_t n, void *ud)
{
	struct relay *rl = ud;
	ssize_t r;
	do
		r = read(rl->stream_fd, p, size * n);
	while (r < 0 && errno == EINTR);
	pthread_mutex_lock(&rl->lock);
	bool aborted = rl->body_aborted;
	pthread_mutex_unlock(&rl->lock);
	if (r < 0 || (r == 0 && aborted))
		return CURL_READFUNC_ABORT;
	return (size_t)r;
}

/* The port proxy: every end-to-end header of the client's goes to the
 * service in the guest (cookies, its own auth, content negotiation);
 * never hop-by-hop ones, nor the caller's thaw key (http_hop_header
 * counts Authorization among them) or who it acts for. */
static enum MHD_Result add_any_header(void *cls, enum MHD_ValueKind kind, const char *name,
				      const char *value)
{
	(void)kind;
	struct relay *rl = cls;
	if (!value || http_hop_header(name, strlen(name)) ||
	    !strcasecmp(name, "Thaw-On-Behalf-Of") || !strcasecmp(name, "Idempotency-Key") ||
	    !strcasecmp(name, REQID_HEADER) ||
	    !strcasecmp(name, "Expect") || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
		return MHD_YES;
	_cleanup_free_ char *h = xasprintf("%s: %s", name, value);
	rl->req_headers = curl_slist_append(rl->req_headers, h);
	return MHD_YES;
}

static void add_all_client_headers(struct relay *rl, struct MHD_Connection *conn)
{
	MHD_get_connection_values(conn, MHD_HEADER_KIND, add_any_header, rl);
}

static void set_stream_body(struct relay *rl, struct api_req *r, struct relay_body *b)
{
	CURL *c = rl->c;
	rl->stream_fd = b->fd;
	b->fd = -1; /* the relay's now */
	if (b->has) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_stream);
		curl_easy_setopt(c, CURLOPT_READDATA, rl);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b->size);
	}
	if (!strcmp(r->method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
}

void relay_add_header_lines(struct MHD_Response *resp, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		const char *colon = memchr(p, ':', (size_t)(stop - p));
		if (colon && !http_hop_header(p, (size_t)(colon - p))) {
			_cleanup_free_ char *name = xstrndup(p, (size_t)(colon - p));
			const char *v = colon + 1;
			while (v < stop && *v == ' ')
				v++;
			size_t vl = (size_t)(stop - v);
			while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
				vl--;
			_cleanup_free_ char *value = xstrndup(v, vl);
			MHD_add_response_header(resp, name, value);
		}
		p = nl ? nl + 1 : end;
	}
}

static enum MHD_Result queue(struct api_req *r, struct relay *rl, int rfd)
{
	struct MHD_Response *resp = MHD_create_response_from_pipe(rfd);
	if (!resp) {
		close(rfd);
		return api_reply_fail(r, ERR_INTERNAL, "cannot stream the host's answer");
	}
	relay_add_header_lines(resp, (const char *)rl->headers.data, rl->headers.len);
	return api_queue(r, (unsigned)rl->status, resp);
}

/* A relay set up and its transfer thread started; *p0 is the pipe the
 * answer's body arrives on. NULL (and *err) when it could not start. */
static struct relay *relay_start_transfer(struct api_req *r, const struct relay_target *t,
					  struct relay_body *body, int *p0, struct thaw_err **err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		err_sys(err, "pipe");
		return NULL;
	}
	struct relay *rl = xcalloc(1, sizeof(*rl));
	pthread_mutex_init(&rl->lock, NULL);
	pthread_cond_init(&rl->cond, NULL);
	rl->refs = 2;
	rl->wfd = p[1];
	rl->body_fd = -1;
	rl->stream_fd = -1;
	rl->c = curl_easy_init();
	rl->url = xasprintf("http://%s%s", t->address, t->path_query);
	setup(rl, r->method, t);
	if (body) {
		add_all_client_headers(rl, r->conn);
		set_stream_body(rl, r, body);
	} else {
		add_client_headers(rl, r->conn);
		set_body(rl, r);
	}
	curl_easy_setopt(rl->c, CURLOPT_HTTPHEADER, rl->req_headers);
	log_request_id_copy(rl->req_id);
	pthread_t th;
	if (pthread_create(&th, NULL, transfer_main, rl) != 0) {
		close(p[0]);
		close(p[1]);
		rl->refs = 1;
		relay_put(rl);
		err_set(err, ERR_INTERNAL, "cannot start the relay");
		return NULL;
	}
	pthread_detach(th);
	*p0 = p[0];
	return rl;
}

/* Waits for the host's status and headers, then answers r with them and
 * the body streaming from p0; lets go of the handler's reference. */
static enum MHD_Result relay_answer(struct api_req *r, const struct relay_target_addr *t,
				    struct relay *rl, int p0)
{
	struct timespec until = time_after_ms(CLOCK_REALTIME, HEADERS_TIMEOUT_S * 1000);
	pthread_mutex_lock(&rl->lock);
	while (!rl->headers_done && !rl->finished)
		if (pthread_cond_timedwait(&rl->cond, &rl->lock, &until) != 0)
			break;
	bool ok = rl->headers_done, finished = rl->finished;
	CURLcode rc = rl->rc;
	pthread_mutex_unlock(&rl->lock);
	enum MHD_Result ret;
	if (ok) {
		ret = queue(r, rl, p0);
	} else if (!finished) {
		close(p0); /* the transfer thread's writes fail: it ends */
		ret = api_reply_fail(r, ERR_TIMEOUT, "host %s: no answer within %d s", t->address,
				     HEADERS_TIMEOUT_S);
	} else {
		close(p0);
		/* The host is there but cannot be reached: 502 (ERR_GUEST is
		 * the code that maps to it). */
		ret = api_reply_fail(r, ERR_GUEST, "host %s: %s", t->address,
				     rl->error[0] ? rl->error : curl_easy_strerror(rc));
	}
	relay_put(rl);
	return ret;
}

enum MHD_Result relay_request(struct api_req *r, const struct relay_target *t)
{
	int p0;
	_cleanup_err_ struct thaw_err *err = NULL;
	struct relay *rl = relay_start_transfer(r, t, NULL, &p0, &err);
	if (!rl)
		return api_reply_error(r, err);
	struct relay_target_addr a;
	snprintf(a.address, sizeof(a.address), "%s", t->address);
	return relay_answer(r, &a, rl, p0);
}

/* ---- a streamed request body (the port proxy) ----------------------- */

/* Between the API layer's stream callbacks and the transfer: the
 * handler's reference to the relay, the socket the body is written to,
 * the answer's pipe. */
struct relay_stream {
	struct relay *rl;
	int up;	 /* the body's write end; curl reads the other */
	int p0;
	bool finished;
	struct relay_target_addr addr;
};

static int stream_feed(void *ud, const char *data, size_t len)
{
	struct relay_stream *st = ud;
	while (len) {
		ssize_t w = send(st->up, data, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1; /* the transfer ended: take no more */
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

static enum MHD_Result stream_finish(void *ud, struct api_req *r)
{
	struct relay_stream *st = ud;
	st->finished = true;
	shutdown(st->up, SHUT_WR); /* the end of the body, for curl */
	int p0 = st->p0;
	st->p0 = -1;
	struct relay *rl = st->rl;
	st->rl = NULL;
	return relay_answer(r, &st->addr, rl, p0);
}

static void stream_release(void *ud)
{
	struct relay_stream *st = ud;
	if (st->rl) {
		/* The client went before its body ended: the host must not
		 * take the part it got for a whole request. */
		pthread_mutex_lock(&st->rl->lock);
		st->rl->body_aborted = true;
		pthread_mutex_unlock(&st->rl->lock);
		shutdown(st->up, SHUT_RDWR);
		close(st->p0);
		relay_put(st->rl);
	}
	close(st->up);
	free(st);
}

enum MHD_Result relay_request_streamed(struct api_req *r, const struct relay_target *t)
{
	if (!r->stream)
		return api_reply_fail(r, ERR_INTERNAL, "a streamed relay on a route without one");
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return api_reply_fail(r, ERR_INTERNAL, "socketpair: %s", strerror(errno));
	struct relay_body body = { .fd = sp[0] };
	const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
	const char *te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						     "Transfer-Encoding");
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		if (errno || end == cl || *end || cl[0] == '-' || cl[0] == '+') {
			close(sp[0]);
			close(sp[1]);
			return api_reply_fail(r, ERR_INVALID, "Content-Length is not a number");
		}
		body.has = n > 0;
		body.size = (int64_t)n;
	} else if (te) {
		body.has = true;
		body.size = -1; /* chunked on to the host too */
	}
	int p0;
	_cleanup_err_ struct thaw_err *err = NULL;
	struct relay *rl = relay_start_transfer(r, t, &body, &p0, &err);
	if (!rl) {
		close(sp[0]);
		close(sp[1]);
		return api_reply_error(r, err);
	}
	struct relay_stream *st = xcalloc(1, sizeof(*st));
	st->rl = rl;
	st->up = sp[1];
	st->p0 = p0;
	snprintf(st->addr.address, sizeof(st->addr.address), "%s", t->address);
	*r->stream = (struct api_body_stream){ .feed = stream_feed,
					       .finish = stream_finish,
					       .release = stream_release,
					       .ud = st };
	return MHD_YES;
}

static size_t into_buf(char *p, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;
	size_t len = size * n;
	if (b->len + len > RELAY_CALL_MAX)
		return 0;
	buf_append(b, p, len);
	return len;
}

long relay_call(const struct relay_target *t, const char *method, const char *body,
		size_t body_len, struct buf *out, struct thaw_err **err)
{
	CURL *c = curl_easy_init();
	char error[CURL_ERROR_SIZE] = "";
	_cleanup_free_ char *url = xasprintf("http://%s%s", t->address, t->path_query);
	struct curl_slist *h = identity(NULL, t);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)HEADERS_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, into_buf);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	/* A POST without a body still says so (Content-Length: 0). */
	if (body || !strcmp(method, "POST")) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
	}
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	else
		err_set(err, rc == CURLE_OPERATION_TIMEDOUT ? ERR_TIMEOUT : ERR_UNAVAILABLE,
			"host %s: %s", t->address, error[0] ? error : curl_easy_strerror(rc));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}
