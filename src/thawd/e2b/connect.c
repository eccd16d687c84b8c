/* The Connect protocol, v1 with the JSON codec, as E2B's SDK speaks it
 * to envd (connect-web over fetch): unary calls are a JSON body and a
 * JSON answer; server-streaming calls are one request envelope and a
 * stream of envelopes closed by an end-of-stream envelope, without which
 * the client throws "missing EndStreamResponse". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/stream.h"
#include "buf.h"
#include "e2b/envelope.h"
#include "e2b/front.h"
#include "log.h"
#include "utf8.h"

/* Connect's codes and the HTTP statuses its spec gives them. */
const char *connect_code_of(const struct thaw_err *e, unsigned *status)
{
	switch (e ? e->code : ERR_INTERNAL) {
	case ERR_INVALID:
		*status = 400;
		return "invalid_argument";
	case ERR_NOT_FOUND:
		*status = 404;
		return "not_found";
	case ERR_CONFLICT:
		/* What exists already (a directory made twice) is the one
		 * conflict the SDK tells apart (makeDir answers false). */
		if (e->sys_errno == EEXIST) {
			*status = 409;
			return "already_exists";
		}
		*status = 400;
		return "failed_precondition";
	case ERR_UNAUTHORIZED:
		*status = 401;
		return "unauthenticated";
	case ERR_FORBIDDEN:
		*status = 403;
		return "permission_denied";
	case ERR_TOO_LARGE:
	case ERR_LIMIT:
		*status = 429;
		return "resource_exhausted";
	case ERR_TIMEOUT:
		*status = 504;
		return "deadline_exceeded";
	case ERR_UNAVAILABLE:
	case ERR_GUEST:
		*status = 503;
		return "unavailable";
	case ERR_CORRUPT:
	case ERR_INTERNAL:
	default:
		*status = 500;
		return "internal";
	}
}

/* The message made valid UTF-8 (it quotes client and guest input). */
static json_t *clean_string(const char *msg)
{
	struct buf clean = { 0 };
	utf8_sanitize(msg, strlen(msg), &clean);
	json_t *s = json_stringn(clean.data ? (char *)clean.data : "", clean.len);
	buf_free(&clean);
	return s;
}

enum MHD_Result connect_reply_error(struct api_req *r, const struct thaw_err *e)
{
	unsigned status;
	const char *code = connect_code_of(e, &status);
	if (status >= 500)
		log_warn("e2b.error", "method=%s url=%s code=%s error=\"%s\"", r->method, r->url,
			 code, err_msg(e));
	json_t *o = json_pack("{s:s,s:o}", "code", code, "message",
			      clean_string(e ? e->msg : "internal error"));
	return api_reply_json(r, status, o);
}

/* Whether the request's Content-Type is want (parameters such as
 * "; charset=utf-8" allowed). */
static bool content_type_is(struct api_req *r, const char *want)
{
	const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
	size_t n = strlen(want);
	return ct && strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';');
}

static json_t *refuse(struct api_req *r, enum MHD_Result *res, const struct thaw_err *e)
{
	*res = connect_reply_error(r, e);
	return NULL;
}

json_t *connect_unary_request(struct api_req *r, enum MHD_Result *res)
{
	struct thaw_err e = { .code = ERR_INVALID };
	if (!content_type_is(r, "application/json")) {
		snprintf(e.msg, sizeof(e.msg),
			 "a Connect unary call takes Content-Type: application/json (the JSON "
			 "codec; binary protobuf is not supported)");
		return refuse(r, res, &e);
	}
	/* An empty message may come as an empty body. */
	if (r->body_len == 0)
		return json_object();
	json_error_t je;
	json_t *o = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		snprintf(e.msg, sizeof(e.msg), "the request message must be a JSON object%s%s",
			 o ? "" : ": ", o ? "" : je.text);
		return refuse(r, res, &e);
	}
	return o;
}

enum MHD_Result connect_reply(struct api_req *r, json_t *msg)
{
	return api_reply_json(r, MHD_HTTP_OK, msg);
}

json_t *connect_stream_request(struct api_req *r, enum MHD_Result *res)
{
	if (!content_type_is(r, "application/connect+json")) {
		struct thaw_err e = { .code = ERR_INVALID };
		snprintf(e.msg, sizeof(e.msg),
			 "a Connect streaming call takes Content-Type: application/connect+json");
		return refuse(r, res, &e);
	}
	_cleanup_err_ struct thaw_err *err = NULL;
	json_t *msg = NULL;
	if (connect_envelope_parse(r->body, r->body_len, CONNECT_MAX_REQUEST, &msg, &err) < 0)
		return refuse(r, res, err);
	return msg;
}

enum MHD_Result connect_stream_reply(struct api_req *r, struct api_stream *s)
{
	return api_stream_reply_as(r, s, "application/connect+json", NULL);
}

static void send_envelope(struct api_stream *s, uint8_t flags, json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!text) {
		/* Not encodable (a bug): the stream is cut short rather than
		 * sending a message the client cannot read. */
		log_error("e2b.stream", "error=\"message not encodable\"");
		api_stream_fail(s);
		return;
	}
	struct buf out = { 0 };
	connect_envelope_put(&out, flags, text, strlen(text));
	free(text);
	api_stream_write(s, out.data, out.len);
	buf_free(&out);
}

void connect_stream_send(struct api_stream *s, json_t *msg)
{
	send_envelope(s, 0, msg);
}

void connect_stream_end(struct api_stream *s, const struct thaw_err *e)
{
	json_t *end;
	if (e) {
		unsigned status;
		const char *code = connect_code_of(e, &status);
		json_t *m = clean_string(e->msg);
		end = connect_end_message(code, json_string_value(m));
		json_decref(m);
	} else {
		end = connect_end_message(NULL, NULL);
	}
	send_envelope(s, CONNECT_FLAG_END, end);
	api_stream_end(s);
}
