#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "httpapi/httpapi.h"
#include "buf.h"
#include "cleanup.h"
#include "log.h"
#include "reqid.h"
#include "utf8.h"

unsigned api_status_for(enum err_code code)
{
	switch (code) {
	case ERR_INVALID:
		return MHD_HTTP_BAD_REQUEST;
	case ERR_UNAUTHORIZED:
		return MHD_HTTP_UNAUTHORIZED;
	case ERR_NOT_FOUND:
		return MHD_HTTP_NOT_FOUND;
	case ERR_FORBIDDEN:
		return MHD_HTTP_FORBIDDEN;
	case ERR_CONFLICT:
	case ERR_CORRUPT:
		return MHD_HTTP_CONFLICT;
	case ERR_TOO_LARGE:
		return MHD_HTTP_CONTENT_TOO_LARGE;
	case ERR_TIMEOUT:
		return MHD_HTTP_GATEWAY_TIMEOUT;
	case ERR_UNAVAILABLE:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	case ERR_GUEST:
		return MHD_HTTP_BAD_GATEWAY;
	case ERR_LIMIT:
		return MHD_HTTP_TOO_MANY_REQUESTS;
	case ERR_INTERNAL:
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

/* The request's id: set by the server on every request it dispatches;
 * the thread's log id for an api_req a handler made up itself. */
static const char *request_id(const struct api_req *r)
{
	return r->request_id ? r->request_id : log_request_id();
}

enum MHD_Result api_queue(struct api_req *r, unsigned status, struct MHD_Response *resp)
{
	if (!resp)
		return MHD_NO;
	/* Headers a handler copied from another answer (a guest's through
	 * the port proxy, a host's through the control plane's relay) may
	 * name an id too: the request's own replaces them, so there is one. */
	const char *old;
	while ((old = MHD_get_response_header(resp, REQID_HEADER))) {
		_cleanup_free_ char *copy = xstrdup(old);
		if (MHD_del_response_header(resp, REQID_HEADER, copy) != MHD_YES)
			break;
	}
	const char *id = request_id(r);
	if (id)
		MHD_add_response_header(resp, REQID_HEADER, id);
	enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result api_reply_json(struct api_req *r, unsigned status, json_t *body)
{
	/* Every error in thaw's shape names the request (api_reply_error's
	 * and a handler's own, such as a tunnel's 426). */
	const char *id = request_id(r);
	if (status >= 400 && id && json_is_object(body) && json_object_get(body, "error") &&
	    !json_object_get(body, "request_id"))
		json_object_set_new(body, "request_id", json_string(id));
	char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
	json_decref(body);
	if (!text) {
		log_error("api.reply", "method=%s status=%u error=\"response not encodable\"",
			  r->method, status);
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		text = xstrdup(
			"{\"error\":\"the response could not be encoded\",\"code\":\"internal\"}");
	}
	size_t len = strlen(text);
	text[len] = '\0';
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (resp)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return api_queue(r, status, resp);
}

enum MHD_Result api_reply_error(struct api_req *r, const struct thaw_err *e)
{
	enum err_code code = e ? e->code : ERR_INTERNAL;
	unsigned status = api_status_for(code);
	api_stats_error(code);
	if (status >= 500)
		log_warn("api.error", "method=%s url=%s status=%u error=\"%s\"", r->method, r->url,
			 status, err_msg(e));
	/* Messages quote client and guest input: make them valid UTF-8. */
	const char *msg = e ? e->msg : "internal error";
	struct buf clean = { 0 };
	utf8_sanitize(msg, strlen(msg), &clean);
	json_t *body = json_pack("{s:s%,s:s}", "error", clean.data ? (char *)clean.data : "",
				 clean.len, "code", err_code_name(code));
	buf_free(&clean);
	return api_reply_json(r, status, body);
}

enum MHD_Result api_reply_fail(struct api_req *r, enum err_code code, const char *fmt, ...)
{
	struct thaw_err e = { .code = code };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	return api_reply_error(r, &e);
}

enum MHD_Result api_reply_empty(struct api_req *r, unsigned status)
{
	return api_queue(r, status,
			 MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

json_t *api_body_object(struct api_req *r, enum MHD_Result *result)
{
	json_error_t je;
	if (r->body_len == 0) {
		*result = api_reply_fail(r, ERR_INVALID, "request body must be a JSON object");
		return NULL;
	}
	json_t *o = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!o) {
		*result = api_reply_fail(r, ERR_INVALID, "malformed JSON at line %d column %d: %s",
					 je.line, je.column, je.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		*result = api_reply_fail(r, ERR_INVALID, "request body must be a JSON object");
		return NULL;
	}
	return o;
}
