/* ANY /v1/sandboxes/{id}/ports/{port}/path...: a service listening inside
 * a sandbox, reached through thawd (ops/proxy.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
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

static int parse_port(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	return (*end || end == s || s[0] == '+' || s[0] == '-' || v < 1 || v > 65535) ? -1 : (int)v;
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

static enum MHD_Result reply(struct api_req *r, struct proxy_resp *out)
{
	size_t len = 0;
	char *body = buf_steal(&out->body, &len);
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	copy_headers(resp, &out->headers);
	enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)out->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result api_sandbox_port(struct api_req *r)
{
	if (!id_valid_sandbox(r->params[0]))
		return api_reply_fail(r, ERR_INVALID, "\"%.64s\" is not a sandbox id",
				      r->params[0]);
	int port = parse_port(r->params[1]);
	if (port < 0)
		return api_reply_fail(r, ERR_INVALID, "port must be a number from 1 to 65535");
	struct collect query = { 0 }, headers = { 0 };
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_query, &query);
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_header, &headers);
	struct proxy_req req = { .method = r->method,
				 .port = port,
				 .path = r->tail,
				 .query = query.text.len ? buf_cstr(&query.text) : NULL,
				 .headers = (const char *const *)headers.lines,
				 .body = r->body,
				 .body_len = r->body_len };
	struct proxy_resp out;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = sandbox_proxy(api_host(r), r->params[0], &req, &out, &err);
	collect_free(&query);
	collect_free(&headers);
	if (rc < 0)
		return api_reply_error(r, err);
	enum MHD_Result ret = reply(r, &out);
	proxy_resp_free(&out);
	return ret;
}
