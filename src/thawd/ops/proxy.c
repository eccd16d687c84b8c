#include "ops/proxy.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "core/registry.h"
#include "guestnet.h"
#include "http_hop.h"
#include "log.h"
#include "net/slot.h"
#include "ops/ops.h"

/* A transfer that moves no byte either way for this long ends: neither a
 * guest nor a client can hold a thread for ever. */
#define PROXY_IDLE_S 300
#define PROXY_CONNECT_S 5

/* Each direction's bytes cross a socket pair: [0] is the writer's end,
 * [1] the reader's. Its kernel buffers bound what a transfer holds. */
struct proxy_xfer {
	atomic_int refs;
	struct host *h;
	struct sandbox *sb; /* a reference */
	CURL *curl;
	struct curl_slist *hdrs;
	int body[2];   /* request body: fed by the API thread, read by curl */
	int answer[2]; /* answer body: written by curl, read by the API thread */
	int inflight;  /* curl's socket in sb's in-flight list, -1 if none */
	int port;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool head_done;	     /* the answer's head is complete, or the transfer ended */
	bool head_seen;	     /* curl's thread: the final head passed (trailers are ignored) */
	bool finished;	     /* curl returned */
	bool body_complete;  /* the request's body ended normally */
	atomic_bool aborted; /* either side gave up */
	long status;
	int64_t content_length; /* the answer's Content-Length, -1 if none */
	struct buf headers;
	CURLcode rc;
	struct thaw_err *sock_err;
	char req_id[LOG_REQID_SIZE]; /* the proxied request's, for curl's thread's lines */
};

/* Waits until fd is ready for events, in one-second steps so that an
 * abort is seen; false on timeout, abort or a hang-up with nothing to read. */
static bool wait_ready(struct proxy_xfer *x, int fd, short events)
{
	for (int waited = 0; waited < PROXY_IDLE_S; waited++) {
		if (atomic_load(&x->aborted))
			return false;
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, 1000);
		if (n < 0 && errno != EINTR)
			return false;
		if (n > 0)
			return true;
	}
	return false;
}

static int send_all(struct proxy_xfer *x, int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (!wait_ready(x, fd, POLLOUT))
				return -1;
			continue;
		}
		if (n < 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* curl's socket comes from inside the sandbox's namespace and joins the
 * sandbox's in-flight list, so a delete cuts it like an exec. */
static curl_socket_t open_in_slot(void *ud, curlsocktype purpose, struct curl_sockaddr *addr)
{
	(void)purpose;
	struct proxy_xfer *x = ud;
	int fd = -1;
	if (netslot_socket(x->sb->slot, addr->family, addr->socktype, &fd, &x->sock_err) < 0)
		return CURL_SOCKET_BAD;
	x->inflight = sandbox_inflight_add(x->sb, fd, &x->sock_err);
	if (x->inflight < 0) {
		close(fd);
		return CURL_SOCKET_BAD;
	}
	return fd;
}

/* Leave the in-flight list before the fd number can be reused. */
static int close_in_slot(void *ud, curl_socket_t fd)
{
	struct proxy_xfer *x = ud;
	if (x->inflight >= 0) {
		sandbox_inflight_del(x->sb, x->inflight);
		x->inflight = -1;
	}
	return close(fd);
}

/* The request's body for curl, as the client sends it. An end that is not
 * the body's (the client went away) aborts: the guest never gets a
 * truncated request that looks whole. */
static size_t give_body(char *dst, size_t size, size_t n, void *ud)
{
	struct proxy_xfer *x = ud;
	for (;;) {
		ssize_t got = recv(x->body[1], dst, size * n, MSG_DONTWAIT);
		if (got > 0)
			return (size_t)got;
		if (got == 0) {
			pthread_mutex_lock(&x->lock);
			bool complete = x->body_complete;
			pthread_mutex_unlock(&x->lock);
			return complete ? 0 : CURL_READFUNC_ABORT;
		}
		if ((errno != EAGAIN && errno != EINTR) || !wait_ready(x, x->body[1], POLLIN))
			return CURL_READFUNC_ABORT;
	}
}

static size_t take_body(char *data, size_t size, size_t n, void *ud)
{
	struct proxy_xfer *x = ud;
	size_t len = size * n;
	return send_all(x, x->answer[0], data, len) < 0 ? 0 : len; /* 0 aborts */
}

static void head_complete(struct proxy_xfer *x)
{
	pthread_mutex_lock(&x->lock);
	x->head_done = true;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
}

static size_t take_header(char *data, size_t size, size_t n, void *ud)
{
	struct proxy_xfer *x = ud;
	size_t len = size * n;
	const char *colon = memchr(data, ':', len);
	if (x->head_seen)
		return len; /* trailers: the head was handed over already */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		buf_reset(&x->headers); /* a new response (after a 1xx) */
		x->content_length = -1;
		char line[64];
		snprintf(line, sizeof(line), "%.*s", (int)(len < 63 ? len : 63), data);
		if (sscanf(line, "%*s %ld", &x->status) != 1)
			x->status = 0;
	} else if ((len == 2 && data[0] == '\r') || (len == 1 && data[0] == '\n')) {
		x->head_seen = x->status >= 200;
		if (x->head_seen)
			head_complete(x);
	} else if (colon && (size_t)(colon - data) == 14 &&
		   strncasecmp(data, "content-length", 14) == 0) {
		char v[32];
		snprintf(v, sizeof(v), "%.*s", (int)(len - 15 < 31 ? len - 15 : 31), colon + 1);
		char *end;
		long long v_n = strtoll(v, &end, 10);
		x->content_length = v_n >= 0 && end != v ? v_n : -1;
	} else if (colon && !http_hop_header(data, (size_t)(colon - data))) {
		buf_append(&x->headers, data, len);
	}
	return len;
}

static void set_body(CURL *c, const struct proxy_req *req)
{
	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		return;
	}
	if (req->body_len == 0)
		return;
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	/* Unknown length: curl sends it chunked. */
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
}

static int prepare(struct proxy_xfer *x, const struct proxy_req *req)
{
	CURL *c = x->curl = curl_easy_init();
	if (!c)
		return -1;
	_cleanup_free_ char *url =
		xasprintf("http://" GUESTNET_GUEST_IP ":%d%s%s%s", req->port, req->path,
			  req->query ? "?" : "", req->query ? req->query : "");
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		x->hdrs = curl_slist_append(x->hdrs, req->headers[i]);
	/* curl would add these on its own; the guest's service gets neither. */
	x->hdrs = curl_slist_append(x->hdrs, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	set_body(c, req);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, give_body);
	curl_easy_setopt(c, CURLOPT_READDATA, x);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_in_slot);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, x);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, close_in_slot);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, take_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, take_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	/* No total limit: a stream may be long. A stalled one ends. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)PROXY_IDLE_S);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)PROXY_CONNECT_S);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never an environment proxy */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	return 0;
}

static void *run(void *arg)
{
	struct proxy_xfer *x = arg;
	log_set_request_id(x->req_id);
	CURLcode rc = curl_easy_perform(x->curl);
	pthread_mutex_lock(&x->lock);
	x->rc = rc;
	x->finished = true;
	x->head_done = true;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	/* The reader sees the end of the answer (or, with rc, its break). */
	shutdown(x->answer[0], SHUT_WR);
	shutdown(x->body[1], SHUT_RD);
	proxy_xfer_unref(x);
	return NULL;
}

static void xfer_free(struct proxy_xfer *x)
{
	if (x->curl)
		curl_easy_cleanup(x->curl);
	curl_slist_free_all(x->hdrs);
	if (x->inflight >= 0)
		sandbox_inflight_del(x->sb, x->inflight);
	for (int i = 0; i < 2; i++) {
		if (x->body[i] >= 0)
			close(x->body[i]);
		if (x->answer[i] >= 0)
			close(x->answer[i]);
	}
	sandbox_unref(x->h, x->sb);
	buf_free(&x->headers);
	err_free(x->sock_err);
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->cond);
	free(x);
}

struct proxy_xfer *proxy_xfer_ref(struct proxy_xfer *x)
{
	atomic_fetch_add(&x->refs, 1);
	return x;
}

void proxy_xfer_unref(struct proxy_xfer *x)
{
	if (x && atomic_fetch_sub(&x->refs, 1) == 1)
		xfer_free(x);
}

static struct proxy_xfer *xfer_new(struct host *h, struct sandbox *sb, int port,
				   struct thaw_err **err)
{
	struct proxy_xfer *x = xcalloc(1, sizeof(*x));
	atomic_init(&x->refs, 1);
	x->h = h;
	x->sb = sb;
	x->port = port;
	x->inflight = -1;
	x->content_length = -1;
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cond, NULL);
	x->body[0] = x->body[1] = x->answer[0] = x->answer[1] = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x->body) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x->answer) < 0) {
		err_sys(err, "proxy to port %d", port);
		xfer_free(x);
		return NULL;
	}
	return x;
}

int sandbox_proxy_start(struct host *h, const char *id, const struct proxy_req *req,
			struct proxy_xfer **out, struct thaw_err **err)
{
	struct sandbox *sb = NULL;
	if (sandbox_running_for_request(h, id, req->auto_resume, &sb, err) < 0)
		return -1;
	struct proxy_xfer *x = xfer_new(h, sb, req->port, err);
	if (!x)
		return -1;
	if (prepare(x, req) < 0) {
		xfer_free(x);
		return err_set(err, ERR_INTERNAL, "cannot create an HTTP client");
	}
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	proxy_xfer_ref(x); /* the thread's */
	log_request_id_copy(x->req_id);
	int rc = pthread_create(&t, &attr, run, x);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		xfer_free(x);
		errno = rc;
		return err_sys(err, "starting the proxy to port %d", req->port);
	}
	*out = x;
	return 0;
}

int proxy_xfer_feed(struct proxy_xfer *x, const void *data, size_t len)
{
	if (send_all(x, x->body[0], data, len) < 0) {
		atomic_store(&x->aborted, true);
		return -1;
	}
	return 0;
}

void proxy_xfer_body_end(struct proxy_xfer *x, bool complete)
{
	pthread_mutex_lock(&x->lock);
	x->body_complete = complete;
	pthread_mutex_unlock(&x->lock);
	if (!complete)
		atomic_store(&x->aborted, true);
	shutdown(x->body[0], SHUT_WR);
}

int proxy_xfer_head(struct proxy_xfer *x, long *status, const struct buf **headers,
		    int64_t *content_length, struct thaw_err **err)
{
	pthread_mutex_lock(&x->lock);
	while (!x->head_done)
		pthread_cond_wait(&x->cond, &x->lock);
	bool ok = !x->finished || x->rc == CURLE_OK;
	CURLcode rc = x->rc;
	pthread_mutex_unlock(&x->lock);
	if (ok && x->status >= 200) {
		*status = x->status;
		*headers = &x->headers;
		*content_length = x->content_length;
		return 0;
	}
	if (x->sock_err)
		return err_set(err, x->sock_err->code, "%s", x->sock_err->msg);
	return err_set(err, ERR_GUEST, "port %d in sandbox %s: %s", x->port, x->sb->id,
		       rc == CURLE_COULDNT_CONNECT ? "nothing listens there"
		       : rc == CURLE_OK		   ? "no answer"
						   : curl_easy_strerror(rc));
}

ssize_t proxy_xfer_read(struct proxy_xfer *x, void *dst, size_t size)
{
	for (;;) {
		ssize_t n = recv(x->answer[1], dst, size, MSG_DONTWAIT);
		if (n > 0)
			return n;
		if (n == 0) {
			pthread_mutex_lock(&x->lock);
			bool clean = x->finished && x->rc == CURLE_OK;
			pthread_mutex_unlock(&x->lock);
			return clean ? 0 : -1;
		}
		if ((errno != EAGAIN && errno != EINTR) || !wait_ready(x, x->answer[1], POLLIN))
			return -1;
	}
}

void proxy_xfer_abort(struct proxy_xfer *x)
{
	atomic_store(&x->aborted, true);
	/* curl's next write to the answer fails and ends the transfer. */
	shutdown(x->answer[1], SHUT_RDWR);
	shutdown(x->body[0], SHUT_RDWR);
}
