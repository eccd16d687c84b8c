/* libmicrohttpd glue: body accumulation with a size limit, API key
 * check, routing by the program's table, the request id (reqid.h) and
 * one access log line per request at debug level. */
#include <openssl/crypto.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "httpapi/httpapi.h"
#include "httpapi/keys.h"
#include "ids.h"
#include "log.h"
#include "reqid.h"
#include "timeutil.h"

#define CONNECTION_LIMIT 512
#define CONNECTION_TIMEOUT_S 3600

/* A token bucket per API key: its rate tokens a second, at most 2 s
 * worth saved up. */
struct bucket {
	pthread_mutex_t lock;
	double tokens;
	uint64_t last_ns;
};

struct api_server {
	struct MHD_Daemon *d;
	struct api_service svc;
	struct api_keys keys;
	struct bucket *buckets; /* one per key, same order */
};

static int key_rate(const struct api_server *s, const struct api_key *k)
{
	return k->rate_limit >= 0 ? k->rate_limit : s->svc.rate_limit;
}

/* Takes a token; false when the key is over its rate. */
static bool bucket_take(struct api_server *s, const struct api_key *k)
{
	/* A key acting for another (api_service.find_key) has no bucket. */
	if (k < s->keys.keys || k >= s->keys.keys + s->keys.n)
		return true;
	int rate = key_rate(s, k);
	if (rate <= 0)
		return true;
	struct bucket *b = &s->buckets[k - s->keys.keys];
	pthread_mutex_lock(&b->lock);
	uint64_t now = time_mono_ns();
	b->tokens += (double)(now - b->last_ns) / 1e9 * rate;
	if (b->tokens > 2.0 * rate)
		b->tokens = 2.0 * rate;
	b->last_ns = now;
	bool ok = b->tokens >= 1.0;
	if (ok)
		b->tokens -= 1.0;
	pthread_mutex_unlock(&b->lock);
	return ok;
}

struct conn_ctx {
	struct buf body;
	bool too_large;
	uint64_t t0;
	const char *route;	   /* the matched route's pattern (metrics), NULL if none */
	char method[16];	   /* for the metrics (a copy: cut if longer, then "other") */
	const struct api_key *key; /* the request's key, NULL if none matched */
	uint64_t max_body;	   /* the route's limit */
	bool to_file;		   /* the route takes its body as a file */
	bool discard;		   /* no route or no key: the body is not kept */
	int body_fd;		   /* to_file: an unnamed temp file, or -1 */
	struct api_key acting;	   /* an admin key acting for a user (Thaw-On-Behalf-Of) */
	struct api_key found;	   /* a key api_service.find_key made up (not in the table) */
	uint64_t body_size;
	int write_errno; /* to_file: a write failed */
	/* A stream route (API_STREAM_BODY): its handler ran at the head. */
	bool streamed;
	bool stream_stopped; /* its feed refused more body */
	struct api_body_stream stream; /* what that handler set up (feed NULL: it replied) */
	char req_id[REQID_SIZE];       /* X-Request-Id: the client's or a new one */
};

/* A browser cannot set Authorization on a WebSocket, only the
 * subprotocols it offers: the key may come as an item "thaw-key.KEY" of
 * Sec-WebSocket-Protocol, on upgrade requests only (a plain request could
 * otherwise carry its key where proxies and logs do not expect one). */
static const struct api_key *ws_protocol_key(struct api_server *s, struct MHD_Connection *c)
{
	const char *up = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upgrade");
	const char *p = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol");
	if (!up || !p)
		return NULL;
	static const char prefix[] = "thaw-key.";
	while (*p) {
		p += strspn(p, " \t,");
		size_t n = strcspn(p, " \t,");
		if (n > sizeof(prefix) - 1 && n < 512 && !strncmp(p, prefix, sizeof(prefix) - 1)) {
			char key[512];
			memcpy(key, p + sizeof(prefix) - 1, n - (sizeof(prefix) - 1));
			key[n - (sizeof(prefix) - 1)] = '\0';
			const struct api_key *k = keys_match(&s->keys, key);
			OPENSSL_cleanse(key, sizeof(key));
			return k;
		}
		p += n;
	}
	return NULL;
}

static const struct api_key *key_of(struct api_server *s, struct MHD_Connection *c,
				    struct conn_ctx *ctx)
{
	if (s->svc.find_key)
		return s->svc.find_key(s->svc.app, c, &s->keys, &ctx->found);
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (!auth || strncmp(auth, "Bearer ", 7) != 0)
		return ws_protocol_key(s, c);
	return keys_match(&s->keys, auth + 7);
}

/* The server's own refusals: in the program's shape when it has one
 * (api_service.refusal_body), else thaw's; allow: the Allow header of a
 * 405, else NULL. */
static enum MHD_Result refuse(struct api_server *s, struct api_req *r, unsigned status,
			      enum err_code code, const char *allow, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static enum MHD_Result refuse(struct api_server *s, struct api_req *r, unsigned status,
			      enum err_code code, const char *allow, const char *fmt, ...)
{
	char msg[sizeof(((struct thaw_err *)0)->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *body = s->svc.refusal_body ? s->svc.refusal_body(r, status, msg) : NULL;
	if (!body && !allow)
		return api_reply_fail(r, code, "%s", msg);
	if (!body)
		body = json_pack("{s:s,s:s}", "error", msg, "code", "method_not_allowed");
	if (json_is_object(body) && !json_object_get(body, "request_id"))
		json_object_set_new(body, "request_id", json_string(r->request_id));
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text)
		return api_reply_fail(r, code, "%s", msg);
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO;
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return api_queue(r, status, resp);
}

/* Whether the request's key may use this route now: a key at all, its
 * rate, its role. Replies and returns false when not. (Which sandboxes
 * it may name is the program's business: api_service.admit.) */
static bool allowed(struct api_server *s, const struct api_route *route, struct api_req *r,
		    enum MHD_Result *res)
{
	if (route->public)
		return true;
	if (!r->key) {
		*res = refuse(s, r, MHD_HTTP_UNAUTHORIZED, ERR_UNAUTHORIZED, NULL,
			      "missing or wrong API key%s",
			      s->svc.find_key ? "" : " (send Authorization: Bearer KEY)");
		return false;
	}
	if (!bucket_take(s, r->key)) {
		*res = refuse(s, r, MHD_HTTP_TOO_MANY_REQUESTS, ERR_LIMIT, NULL,
			      "more than %d requests a second with key %s; slow down",
			      key_rate(s, r->key), r->key->name);
		return false;
	}
	if (route->admin && r->key->role != KEY_ADMIN) {
		*res = refuse(s, r, MHD_HTTP_FORBIDDEN, ERR_FORBIDDEN, NULL,
			      "%s %s needs an admin key; key %s is a %s", r->method, route->pattern,
			      r->key->name, key_role_name(r->key->role));
		return false;
	}
	return true;
}

/* An admin key (the fleet's control plane) acting for one of its users:
 * with Thaw-On-Behalf-Of: NAME the request is that user's from here on (a
 * user key of that name, no limits of its own: the control plane keeps
 * them), so what it may see and do is decided here as for the user. A
 * user key cannot act for anyone. */
static bool delegate(struct api_req *r, struct conn_ctx *ctx, enum MHD_Result *res)
{
	const char *as = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Thaw-On-Behalf-Of");
	if (!as || !r->key)
		return true;
	if (r->key->role != KEY_ADMIN || !id_valid_key_name(as)) {
		*res = api_reply_fail(r, r->key->role != KEY_ADMIN ? ERR_FORBIDDEN : ERR_INVALID,
				      "Thaw-On-Behalf-Of: an admin key may name an API key");
		return false;
	}
	memset(&ctx->acting, 0, sizeof(ctx->acting));
	snprintf(ctx->acting.name, sizeof(ctx->acting.name), "%s", as);
	ctx->acting.role = KEY_USER;
	r->key = &ctx->acting;
	return true;
}

static enum MHD_Result dispatch(struct api_server *s, struct MHD_Connection *c, const char *url,
				const char *method, struct conn_ctx *ctx)
{
	struct api_req r = { .conn = c,
			     .app = s->svc.app,
			     .method = method,
			     .url = url,
			     .request_id = ctx->req_id };
	char params[API_MAX_PARAMS][128];
	char allow[128];
	const struct api_route *route = NULL;
	const char *tail = NULL;
	int m = api_route_match(s->svc.routes, s->svc.nroutes, method, url, &route, params, &tail,
				allow, sizeof(allow));
	if (m == 0)
		return refuse(s, &r, MHD_HTTP_NOT_FOUND, ERR_NOT_FOUND, NULL,
			      "no such endpoint: %s %s", method, url);
	if (m < 0)
		return refuse(s, &r, MHD_HTTP_METHOD_NOT_ALLOWED, ERR_INVALID, allow,
			      "method %s is not allowed here; allowed: %s", method, allow);
	r.key = ctx->key;
	enum MHD_Result res;
	if (!allowed(s, route, &r, &res) || !delegate(&r, ctx, &res))
		return res;
	if (ctx->too_large)
		return refuse(s, &r, MHD_HTTP_CONTENT_TOO_LARGE, ERR_TOO_LARGE, NULL,
				      "request body is larger than %llu bytes (the limit of %s %s)",
				      (unsigned long long)ctx->max_body, method, route->pattern);
	for (int i = 0; i < API_MAX_PARAMS; i++)
		r.params[i] = params[i];
	r.tail = tail;
	if (s->svc.admit && !s->svc.admit(&r, route, &res))
		return res;
	r.body = (const char *)ctx->body.data;
	r.body_len = ctx->body.len;
	r.body_fd = -1;
	if (ctx->streamed)
		r.stream = &ctx->stream;
	if (ctx->to_file) {
		if (ctx->write_errno) {
			errno = ctx->write_errno;
			_cleanup_err_ struct thaw_err *e = NULL;
			err_sys(&e, "storing the request body");
			return api_reply_error(&r, e);
		}
		if (ctx->body_fd >= 0 && lseek(ctx->body_fd, 0, SEEK_SET) < 0)
			return api_reply_fail(&r, ERR_INTERNAL, "cannot rewind the request body");
		r.body_fd = ctx->body_fd;
		r.body_size = ctx->body_size;
	}
	return route->handler(&r);
}

/* Before the body: which route, which key, how much body it may have.
 * A route that takes a file gets its body in an unnamed temp file in
 * the upload dir (O_TMPFILE: gone with the last descriptor, even after a
 * crash). A request with no route or a wrong key keeps nothing of its
 * body: it gets 401/404/405 whatever it sends; nor does an upload to a
 * public route that the program's public_body refuses. */
static void request_setup(struct api_server *s, struct MHD_Connection *c, const char *url,
			  const char *method, struct conn_ctx *ctx)
{
	char params[API_MAX_PARAMS][128];
	char allow[128];
	const struct api_route *route = NULL;
	const char *tail = NULL;
	ctx->max_body = API_NO_BODY;
	if (api_route_match(s->svc.routes, s->svc.nroutes, method, url, &route, params, &tail, allow,
			    sizeof(allow)) != 1) {
		ctx->discard = true;
		return;
	}
	ctx->route = route->pattern;
	ctx->key = route->public ? NULL : key_of(s, c, ctx);
	ctx->discard = !route->public && !ctx->key;
	if (route->public && route->body_to_file && s->svc.public_body) {
		const char *const p[API_MAX_PARAMS] = { params[0], params[1] };
		ctx->discard = !s->svc.public_body(s->svc.app, c, route, p);
	}
	ctx->max_body = route->body_to_file ? API_MAX_UPLOAD : route->max_body;
	ctx->streamed = route->max_body == API_STREAM_BODY && !route->body_to_file && !ctx->discard;
	if (!route->body_to_file || ctx->discard)
		return;
	ctx->to_file = true;
	ctx->body_fd = open(s->svc.upload_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (ctx->body_fd < 0)
		ctx->write_errno = errno;
}

static void store_chunk(struct conn_ctx *ctx, const char *data, size_t len)
{
	if (ctx->discard || ctx->write_errno || ctx->too_large)
		return;
	if (ctx->body_size + len > ctx->max_body) {
		ctx->too_large = true;
		return;
	}
	while (len) {
		ssize_t n = write(ctx->body_fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ctx->write_errno = errno;
			return;
		}
		data += n;
		len -= (size_t)n;
		ctx->body_size += (uint64_t)n;
	}
}

/* A stream route after its head: body pieces to the handler's feed,
 * then its finish. A handler that replied at the head is not called
 * again (libmicrohttpd drops the body of an early reply). */
static enum MHD_Result stream_step(struct api_server *s, struct MHD_Connection *c, const char *url,
				   const char *method, struct conn_ctx *ctx, const char *upload,
				   size_t *upload_size)
{
	if (*upload_size) {
		if (ctx->stream.feed && !ctx->stream_stopped &&
		    ctx->stream.feed(ctx->stream.ud, upload, *upload_size) < 0)
			ctx->stream_stopped = true;
		*upload_size = 0;
		return MHD_YES;
	}
	if (!ctx->stream.finish)
		return MHD_NO;
	struct api_req r = { .conn = c,
			     .app = s->svc.app,
			     .method = method,
			     .url = url,
			     .key = ctx->key,
			     .body_fd = -1,
			     .request_id = ctx->req_id };
	return ctx->stream.finish(ctx->stream.ud, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	(void)version;
	struct api_server *s = cls;
	struct conn_ctx *ctx = *con_cls;
	if (!ctx) {
		ctx = xcalloc(1, sizeof(*ctx));
		ctx->t0 = time_mono_ns();
		ctx->body_fd = -1;
		snprintf(ctx->method, sizeof(ctx->method), "%s", method);
		*con_cls = ctx;
		/* The request runs on its connection's thread from here to
		 * on_completed: what that thread logs carries the id. */
		reqid_take(MHD_lookup_connection_value(c, MHD_HEADER_KIND, REQID_HEADER),
			   ctx->req_id);
		log_set_request_id(ctx->req_id);
		request_setup(s, c, url, method, ctx);
		/* A streamed body: the handler runs now, before the body. */
		return ctx->streamed ? dispatch(s, c, url, method, ctx) : MHD_YES;
	}
	if (ctx->streamed)
		return stream_step(s, c, url, method, ctx, upload, upload_size);
	if (*upload_size && ctx->to_file) {
		store_chunk(ctx, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		/* Keep reading past the limit (discarding) so the client gets
		 * our 413 instead of a reset connection. */
		bool keep = !ctx->discard && !ctx->too_large;
		if (keep && ctx->body.len + *upload_size > ctx->max_body)
			ctx->too_large = true;
		else if (keep)
			buf_append(&ctx->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	return dispatch(s, c, url, method, ctx);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)toe;
	struct conn_ctx *ctx = *con_cls;
	if (!ctx)
		return;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
	unsigned status = ci ? ci->http_status : 0;
	uint64_t ns = time_mono_ns() - ctx->t0;
	api_stats_request(ctx->route, ctx->method, status, ns);
	log_debug("api.request", "status=%u ms=%.2f", status, ns_to_ms(ns));
	/* The next request on a kept-alive connection makes its own; an
	 * upgraded connection's work carries the id it was handed. */
	log_set_request_id(NULL);
	if (ctx->stream.release)
		ctx->stream.release(ctx->stream.ud);
	buf_free(&ctx->body);
	if (ctx->body_fd >= 0)
		close(ctx->body_fd);
	free(ctx);
	*con_cls = NULL;
}

/* Paths are matched as they arrive, percent escapes and all: no route
 * and no id needs an escape, and decoding first would let "%00" cut a
 * path short ("/v1/sandboxes/ID%00/exec" would become a DELETE of ID)
 * or turn "%ff" into bytes that are not UTF-8. An escaped segment is
 * then simply not a valid id. */
static size_t keep_escapes(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("api.mhd", "message=\"%s\"", msg);
}

static void server_free(struct api_server *s)
{
	for (size_t i = 0; i < s->keys.n; i++)
		pthread_mutex_destroy(&s->buckets[i].lock);
	free(s->buckets);
	keys_free(&s->keys);
	free(s);
}

int api_server_start(const struct api_service *svc, struct api_keys *keys,
		     struct api_server **out, struct thaw_err **err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)svc->listen_port) };
	if (inet_pton(AF_INET, svc->listen_addr, &sa.sin_addr) != 1) {
		keys_free(keys);
		return err_set(err, ERR_INVALID, "listen address %s is not an IPv4 address",
			       svc->listen_addr);
	}
	api_stats_init();
	struct api_server *s = xcalloc(1, sizeof(*s));
	s->svc = *svc;
	s->keys = *keys;
	*keys = (struct api_keys){ 0 };
	s->buckets = xcalloc(s->keys.n, sizeof(*s->buckets));
	for (size_t i = 0; i < s->keys.n; i++) {
		pthread_mutex_init(&s->buckets[i].lock, NULL);
		s->buckets[i].tokens = 2.0 * key_rate(s, &s->keys.keys[i]);
		s->buckets[i].last_ns = time_mono_ns();
	}
	/* MHD_USE_POLL: without it libmicrohttpd waits with select(), whose
	 * fd_set cannot hold a descriptor past 1023; every sandbox holds a
	 * few, so at about 200 sandboxes glibc aborted thawd on FD_SET. */
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_ALLOW_UPGRADE;
	s->d = MHD_start_daemon(flags, (uint16_t)svc->listen_port, NULL, NULL, on_request, s,
				MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, s,
				MHD_OPTION_UNESCAPE_CALLBACK, keep_escapes, s, MHD_OPTION_SOCK_ADDR,
				(struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
				(unsigned)CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED,
				on_completed, s, MHD_OPTION_END);
	if (!s->d) {
		int e = errno;
		server_free(s);
		errno = e ? e : EADDRINUSE;
		return err_sys(err, "listening on %s:%d", svc->listen_addr, svc->listen_port);
	}
	*out = s;
	return 0;
}

/* Upgraded connections whose handle a thread still holds: stopping the
 * daemon frees every handle, so a thread that closes its own afterwards
 * would use freed memory. */
static atomic_int upgrades_held;

void api_upgrade_held(void)
{
	atomic_fetch_add(&upgrades_held, 1);
}

void api_upgrade_close(struct MHD_UpgradeResponseHandle *urh)
{
	MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	atomic_fetch_sub(&upgrades_held, 1);
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	/* Stop accepting first, then make every request return: stopping the
	 * daemon joins the connection threads, which would otherwise wait
	 * (thawd: for commands that may run for hours). */
	MHD_socket listen_fd = MHD_quiesce_daemon(s->d);
	if (s->svc.interrupt)
		s->svc.interrupt(s->svc.app);
	/* Interrupted commands end their upgraded connections (a WebSocket
	 * sends its close first): a few seconds at most. */
	for (int i = 0; i < 300 && atomic_load(&upgrades_held) > 0; i++)
		usleep(10000);
	MHD_stop_daemon(s->d);
	if (listen_fd != MHD_INVALID_SOCKET)
		close(listen_fd);
	server_free(s);
}
