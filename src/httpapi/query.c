#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "httpapi/httpapi.h"

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

int api_query_decode(const char *raw, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = raw; *p; p++) {
		char c = *p;
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			c = (char)(hi << 4 | lo);
			p += 2;
		}
		if (o + 1 >= size)
			return -2;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* A query parameter, percent-decoded ('+' is a space, as in forms):
 * 1 present, 0 absent, -1 malformed (reply given). The server keeps
 * escapes in URLs (server.c), so they are decoded here, and %00 refused. */
int api_query(struct api_req *r, const char *name, char *out, size_t size, enum MHD_Result *res)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
	if (!v)
		return 0;
	int rc = api_query_decode(v, out, size);
	if (rc == -1)
		*res = api_reply_fail(r, ERR_INVALID, "query parameter %s has a bad %% escape", name);
	else if (rc < 0)
		*res = api_reply_fail(r, ERR_INVALID, "query parameter %s is too long", name);
	return rc < 0 ? -1 : 1;
}

int api_query_bool(struct api_req *r, const char *name, bool dflt, bool *out, enum MHD_Result *res)
{
	char v[8];
	int q = api_query(r, name, v, sizeof(v), res);
	if (q < 0)
		return -1;
	*out = dflt;
	if (q == 0)
		return 0;
	if (!strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else {
		*res = api_reply_fail(r, ERR_INVALID, "%s must be true or false", name);
		return -1;
	}
	return 0;
}

struct each_ctx {
	api_query_fn fn;
	void *ctx;
	char *value;
	size_t value_max;
	struct thaw_err **err;
	bool failed;
};

static enum MHD_Result each_param(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	(void)kind;
	struct each_ctx *x = cls;
	char name[256];
	if (api_query_decode(key, name, sizeof(name)) < 0 ||
	    api_query_decode(value ? value : "", x->value, x->value_max) < 0) {
		err_set(x->err, ERR_INVALID, "a query parameter is malformed or too long");
		x->failed = true;
		return MHD_NO;
	}
	if (x->fn(x->ctx, name, x->value, x->err) < 0) {
		x->failed = true;
		return MHD_NO;
	}
	return MHD_YES;
}

int api_query_each(struct api_req *r, size_t value_max, api_query_fn fn, void *ctx,
		   struct thaw_err **err)
{
	struct each_ctx x = { .fn = fn, .ctx = ctx, .value = xmalloc(value_max),
			      .value_max = value_max, .err = err };
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, each_param, &x);
	free(x.value);
	return x.failed ? -1 : 0;
}

bool api_header_has(struct api_req *r, const char *name, const char *token)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
	if (!v)
		return false;
	size_t n = strlen(token);
	for (const char *p = v; *p; p++)
		if (strncasecmp(p, token, n) == 0 && (p == v || p[-1] == ' ' || p[-1] == ',') &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return true;
	return false;
}
