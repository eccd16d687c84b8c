/* ANY /v1/sandboxes/{id}/ports/{port}/path...: a service listening inside
 * a sandbox, reached through thawd (ops/proxy.c). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/validate.h"
#include "cleanup.h"
#include "http_hop.h"
#include "ids.h"
#include "ops/proxy.h"

struct collect {
	struct buf text; /* query string, or header lines */
	char **lines;	 /* headers only */
	size_t n;
};

static enum MHD_Result add_query(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	(void)kind;
	struct collect *q = cls;
	buf_printf(&q->text, "%s%s%s%s", q->text.len ? "&" : "", key, value ? "=" : "",
		   value ? value : "");
	return MHD_YES;
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	(void)kind;
	struct collect *h = cls;
	if (http_hop_header(key, strlen(key)))
		return MHD_YES;
	_cleanup_free_ char *protocols = NULL;
	if (!strcasecmp(key, "Sec-WebSocket-Protocol") && value) {
		/* Never a key offered as a subprotocol (httpapi took it). */
		protocols = http_protocols_strip_keys(value);
		if (!protocols)
			return MHD_YES;
		value = protocols;
	}
	h->lines = xrealloc(h->lines, (h->n + 2) * sizeof(char *));
	h->lines[h->n++] = xasprintf("%s: %s", key, value ? value : "");
	h->lines[h->n] = NULL;
	return MHD_YES;
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->lines[i]);
	free(c->lines);
	buf_free(&c->text);
}

/* The guest's response headers, minus hop-by-hop ones (ops/proxy.c). */
static void copy_headers(struct MHD_Response *resp, const struct buf *headers)
{
	const char *p = headers->len ? (const char *)headers->data : "";
	const char *end = p + headers->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *colon = memchr(p, ':', len);
		if (colon) {
			_cleanup_free_ char *name = xstrndup(p, (size_t)(colon - p));
			const char *v = colon + 1;
			while (v < p + len && (*v == ' ' || *v == '\t'))
				v++;
			size_t vlen = (size_t)(p + len - v);
			while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
				vlen--;
			_cleanup_free_ char *value = xstrndup(v, vlen);
			MHD_add_response_header(resp, name, value);
		}
		p += len + 1;
	}
}

/* The stream of one proxied request (httpapi's api_body_stream). */
struct port_call {
	struct host *h;
	char id[128];
	struct proxy_req req;
	struct collect query, headers;
	char *path;
	char *upgrade;		 /* an upgrade request: the Upgrade header's value */
	struct proxy_xfer *xfer; /* a plain request's transfer */
	bool finished;		 /* finish ran: the body was complete */
};

static int call_feed(void *ud, const char *data, size_t len)
{
	struct port_call *pc = ud;
	return pc->xfer ? proxy_xfer_feed(pc->xfer, data, len) : -1;
}

static ssize_t answer_read(void *cls, uint64_t pos, char *dst, size_t max)
{
	(void)pos;
	ssize_t n = proxy_xfer_read(cls, dst, max);
	return n > 0	? n
	       : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
			: MHD_CONTENT_READER_END_WITH_ERROR;
}

/* The client is gone or the answer is sent: either way curl stops. */
static void answer_free(void *cls)
{
	proxy_xfer_abort(cls);
	proxy_xfer_unref(cls);
}

static enum MHD_Result reply_stream(struct api_req *r, struct port_call *pc)
{
	proxy_xfer_body_end(pc->xfer, true);
	long status;
	const struct buf *headers;
	int64_t clen;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (proxy_xfer_head(pc->xfer, &status, &headers, &clen, &err) < 0)
		return api_reply_error(r, err);
	struct proxy_xfer *ref = proxy_xfer_ref(pc->xfer);
	struct MHD_Response *resp =
		MHD_create_response_from_callback(clen >= 0 ? (uint64_t)clen : MHD_SIZE_UNKNOWN,
						  64 * 1024, answer_read, ref, answer_free);
	if (!resp) {
		answer_free(ref);
		return MHD_NO;
	}
	copy_headers(resp, headers);
	return api_queue(r, (unsigned)status, resp);
}

/* The guest's socket, for the upgrade callback (it runs once the 101 is
 * sent). */
struct upgrade_hold {
	_Atomic(struct proxy_upgrade *) u;
};

static void upgrade_closed(void *ud)
{
	MHD_upgrade_action(ud, MHD_UPGRADE_ACTION_CLOSE);
}

static void upgrade_start(void *cls, struct MHD_Connection *conn, void *req_cls,
			  const char *extra_in, size_t extra_in_size, MHD_socket sock,
			  struct MHD_UpgradeResponseHandle *urh)
{
	(void)conn;
	(void)req_cls;
	struct upgrade_hold *hold = cls;
	struct proxy_upgrade *u = atomic_exchange(&hold->u, NULL);
	free(hold);
	_cleanup_err_ struct thaw_err *err = NULL;
	if (!u ||
	    proxy_upgrade_relay(u, sock, extra_in, extra_in_size, upgrade_closed, urh, &err) < 0) {
		proxy_upgrade_free(u);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	}
}

static enum MHD_Result reply_upgrade(struct api_req *r, struct port_call *pc)
{
	struct proxy_upgrade *u = NULL;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_proxy_upgrade(pc->h, pc->id, &pc->req, &u, &err) < 0)
		return api_reply_error(r, err);
	struct MHD_Response *resp;
	if (u->status == 101) {
		/* upgrade_start takes u and frees hold. (A client that leaves
		 * before the 101 is sent leaves both behind: libmicrohttpd has
		 * no callback for an upgrade that never happens.) */
		struct upgrade_hold *hold = xcalloc(1, sizeof(*hold));
		atomic_init(&hold->u, u);
		resp = MHD_create_response_for_upgrade(upgrade_start, hold);
	} else {
		resp = MHD_create_response_from_buffer(u->body.len, u->body.data,
						       MHD_RESPMEM_MUST_COPY);
	}
	copy_headers(resp, &u->headers);
	enum MHD_Result ret = api_queue(r, (unsigned)u->status, resp);
	if (u->status != 101)
		proxy_upgrade_free(u);
	return ret;
}

static enum MHD_Result call_finish(void *ud, struct api_req *r)
{
	struct port_call *pc = ud;
	pc->finished = true;
	return pc->upgrade ? reply_upgrade(r, pc) : reply_stream(r, pc);
}

static void call_release(void *ud)
{
	struct port_call *pc = ud;
	if (pc->xfer && !pc->finished)
		proxy_xfer_body_end(pc->xfer, false); /* cut short: the guest gets nothing */
	proxy_xfer_unref(pc->xfer);
	collect_free(&pc->query);
	collect_free(&pc->headers);
	free(pc->upgrade);
	free(pc->path);
	free(pc);
}

/* Connection: ... upgrade ... with an Upgrade header: the value. */
static const char *upgrade_of(struct MHD_Connection *c)
{
	const char *conn = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Connection");
	const char *up = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upgrade");
	return conn && up && *up && strcasestr(conn, "upgrade") ? up : NULL;
}

/* The request body's length: -1 for chunked (or unknown), 0 for none. */
static int64_t body_length(struct MHD_Connection *c)
{
	const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
	if (te && strcasestr(te, "chunked"))
		return -1;
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	if (!cl)
		return 0;
	char *end;
	long long n = strtoll(cl, &end, 10);
	return (end == cl || *end || n < 0) ? -1 : n;
}

enum MHD_Result api_sandbox_port(struct api_req *r)
{
	if (!id_valid_sandbox(r->params[0]))
		return api_reply_fail(r, ERR_INVALID, "\"%.64s\" is not a sandbox id",
				      r->params[0]);
	int port = port_from_text(r->params[1]);
	if (port < 0)
		return api_reply_fail(r, ERR_INVALID, "port must be a number from 1 to 65535");
	struct port_call *pc = xcalloc(1, sizeof(*pc));
	pc->h = api_host(r);
	snprintf(pc->id, sizeof(pc->id), "%s", r->params[0]);
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_query, &pc->query);
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_header, &pc->headers);
	pc->path = xstrdup(r->tail);
	const char *up = upgrade_of(r->conn);
	pc->upgrade = up ? xstrdup(up) : NULL;
	pc->req =
		(struct proxy_req){ .method = r->method,
				    .port = port,
				    .path = pc->path,
				    .query = pc->query.text.len ? buf_cstr(&pc->query.text) : NULL,
				    .headers = (const char *const *)pc->headers.lines,
				    .body_len = body_length(r->conn),
				    .upgrade = pc->upgrade };
	/* A plain request starts at once, so its body streams to the guest as
	 * it arrives; an upgrade is made once its (empty) body has ended. */
	_cleanup_err_ struct thaw_err *err = NULL;
	if (!pc->upgrade && sandbox_proxy_start(pc->h, pc->id, &pc->req, &pc->xfer, &err) < 0) {
		call_release(pc);
		return api_reply_error(r, err);
	}
	*r->stream = (struct api_body_stream){
		.feed = call_feed, .finish = call_finish, .release = call_release, .ud = pc
	};
	return MHD_YES;
}
