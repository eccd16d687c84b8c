/* Errors in E2B's shapes. The control plane and envd's REST routes
 * answer {"code": <HTTP status>, "message"}: the SDK reads the status
 * (404 on kill means "false", 401 AuthenticationError, ...) and shows
 * the message; "request_id" is thaw's addition. Connect calls answer
 * Connect's errors (connect.c). The
 * status of a thaw error is still decided in one place (api_status_for). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "e2b/front.h"
#include "log.h"
#include "utf8.h"

/* {"code", "message"} with the message made valid UTF-8 (messages quote
 * client and guest input). */
static json_t *error_body(unsigned status, const char *msg)
{
	struct buf clean = { 0 };
	utf8_sanitize(msg, strlen(msg), &clean);
	json_t *o = json_pack("{s:i,s:s%}", "code", (int)status, "message",
			      clean.data ? (char *)clean.data : "", clean.len);
	buf_free(&clean);
	return o;
}

enum MHD_Result e2b_reply_error(struct api_req *r, const struct thaw_err *e)
{
	enum err_code code = e ? e->code : ERR_INTERNAL;
	unsigned status = api_status_for(code);
	api_stats_error(code); /* thaw_errors_total, as the /v1 API's */
	if (status >= 500)
		log_warn("e2b.error", "method=%s url=%s status=%u error=\"%s\"", r->method, r->url,
			 status, err_msg(e));
	json_t *o = error_body(status, e ? e->msg : "internal error");
	/* As thaw's errors: the id the answer's X-Request-Id carries (the
	 * SDK reads code and message and passes over the rest). */
	if (o && r->request_id)
		json_object_set_new(o, "request_id", json_string(r->request_id));
	return api_reply_json(r, status, o);
}

enum MHD_Result e2b_reply_fail(struct api_req *r, enum err_code code, const char *fmt, ...)
{
	struct thaw_err e = { .code = code };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	return e2b_reply_error(r, &e);
}

json_t *e2b_refusal_body(const struct api_req *r, unsigned status, const char *msg)
{
	if (!e2b_is_connect(r->url))
		return error_body(status, msg);
	struct thaw_err e = { .code = status == 401   ? ERR_UNAUTHORIZED
				      : status == 403 ? ERR_FORBIDDEN
				      : status == 413 ? ERR_TOO_LARGE
				      : status == 429 ? ERR_LIMIT
						      : ERR_INVALID };
	snprintf(e.msg, sizeof(e.msg), "%s", msg);
	unsigned ignored;
	/* A procedure this front does not serve is Connect's unimplemented,
	 * not not_found (which the SDK reads as a missing file or process). */
	const char *code =
		status == 404 || status == 405 ? "unimplemented" : connect_code_of(&e, &ignored);
	struct buf clean = { 0 };
	utf8_sanitize(msg, strlen(msg), &clean);
	json_t *o = json_pack("{s:s,s:s%}", "code", code, "message",
			      clean.data ? (char *)clean.data : "", clean.len);
	buf_free(&clean);
	return o;
}
