#include "guestconn/interp.h"

#include <string.h>

/* Result fields whose value is a string; "json" is the one structured. */
static const char *const text_fields[] = { "text",  "html",  "markdown", "svg",	      "png",
					   "jpeg",  "pdf",   "latex",	 "javascript" };

static int bad(struct thaw_err **err, const char *why)
{
	err_set(err, ERR_GUEST, "the code interpreter sent a malformed event: %s", why);
	return -1;
}

static json_t *rebuild_result(json_t *in, struct thaw_err **err)
{
	json_t *main_result = json_object_get(in, "is_main_result");
	if (!json_is_boolean(main_result)) {
		bad(err, "a result without is_main_result");
		return NULL;
	}
	json_t *o = json_pack("{s:s,s:O}", "type", "result", "is_main_result", main_result);
	for (size_t i = 0; i < sizeof(text_fields) / sizeof(text_fields[0]); i++) {
		json_t *v = json_object_get(in, text_fields[i]);
		if (!v || json_is_null(v))
			continue;
		if (!json_is_string(v)) {
			json_decref(o);
			bad(err, "a result field that is not a string");
			return NULL;
		}
		json_object_set(o, text_fields[i], v);
	}
	json_t *j = json_object_get(in, "json");
	if (j && !json_is_null(j)) {
		if (!json_is_object(j) && !json_is_array(j)) {
			json_decref(o);
			bad(err, "a json result that is not an object or array");
			return NULL;
		}
		json_object_set(o, "json", j);
	}
	return o;
}

json_t *interp_event_parse(const uint8_t *line, size_t len, struct thaw_err **err)
{
	json_error_t je;
	json_t *in = json_loadb((const char *)line, len, JSON_REJECT_DUPLICATES, &je);
	json_t *out = NULL;
	const char *type = json_string_value(json_object_get(in, "type"));
	if (!json_is_object(in) || !type) {
		bad(err, "not an object with a type");
	} else if (!strcmp(type, "stdout") || !strcmp(type, "stderr")) {
		json_t *t = json_object_get(in, "text");
		if (json_is_string(t))
			out = json_pack("{s:s,s:O}", "type", type, "text", t);
		else
			bad(err, "output without text");
	} else if (!strcmp(type, "result")) {
		out = rebuild_result(in, err);
	} else if (!strcmp(type, "error")) {
		json_t *n = json_object_get(in, "name"), *v = json_object_get(in, "value"),
		       *tb = json_object_get(in, "traceback");
		if (json_is_string(n) && json_is_string(v) && json_is_string(tb))
			out = json_pack("{s:s,s:O,s:O,s:O}", "type", "error", "name", n, "value", v,
					"traceback", tb);
		else
			bad(err, "an error without name, value and traceback");
	} else if (!strcmp(type, "end")) {
		json_t *d = json_object_get(in, "duration_ms");
		out = json_pack("{s:s,s:f}", "type", "end", "duration_ms",
				json_is_number(d) ? json_number_value(d) : 0.0);
	} else {
		bad(err, "an unknown type");
	}
	json_decref(in);
	return out;
}

void interp_lines_feed(struct interp_lines *l, const uint8_t *data, size_t len, interp_line_fn fn,
		       void *ud)
{
	while (len) {
		const uint8_t *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		if (!l->skipping) {
			if (l->partial.len + take > INTERP_MAX_LINE) {
				l->skipping = l->too_long = true;
				buf_reset(&l->partial);
			} else {
				buf_append(&l->partial, data, take);
			}
		}
		if (!nl)
			return;
		if (!l->skipping && l->partial.len)
			fn(l->partial.data, l->partial.len, ud);
		l->skipping = false;
		buf_reset(&l->partial);
		data += take + 1;
		len -= take + 1;
	}
}

void interp_lines_free(struct interp_lines *l)
{
	buf_free(&l->partial);
}

void interp_answer_init(struct interp_answer *a)
{
	memset(a, 0, sizeof(*a));
	a->results = json_array();
}

void interp_answer_add(struct interp_answer *a, json_t *event)
{
	const char *type = json_string_value(json_object_get(event, "type"));
	if (!type || a->ended)
		return;
	if (!strcmp(type, "stdout") || !strcmp(type, "stderr")) {
		json_t *t = json_object_get(event, "text");
		buf_append(type[3] == 'o' ? &a->out : &a->err, json_string_value(t),
			   json_string_length(t));
	} else if (!strcmp(type, "result")) {
		json_t *r = json_deep_copy(event);
		json_object_del(r, "type");
		json_array_append_new(a->results, r);
	} else if (!strcmp(type, "error")) {
		json_decref(a->error);
		a->error = json_deep_copy(event);
		json_object_del(a->error, "type");
	} else if (!strcmp(type, "end")) {
		a->ended = true;
		a->duration_ms = json_number_value(json_object_get(event, "duration_ms"));
	}
}

json_t *interp_answer_json(const struct interp_answer *a)
{
	json_t *main_text = json_null();
	size_t i;
	json_t *r;
	json_array_foreach(a->results, i, r)
	{
		if (json_is_true(json_object_get(r, "is_main_result")) &&
		    json_is_string(json_object_get(r, "text"))) {
			main_text = json_incref(json_object_get(r, "text"));
			break;
		}
	}
	return json_pack("{s:O,s:s%,s:s%,s:O,s:o}", "results", a->results, "stdout",
			 a->out.len ? (const char *)a->out.data : "", a->out.len, "stderr",
			 a->err.len ? (const char *)a->err.data : "", a->err.len, "error",
			 a->error ? a->error : json_null(), "result", main_text);
}

void interp_answer_free(struct interp_answer *a)
{
	json_decref(a->results);
	json_decref(a->error);
	buf_free(&a->out);
	buf_free(&a->err);
	memset(a, 0, sizeof(*a));
}

json_t *interp_reply_parse(const uint8_t *data, size_t len, struct thaw_err **err)
{
	while (len && (data[len - 1] == '\n'))
		len--;
	json_error_t je;
	json_t *o = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		err_set(err, ERR_GUEST, "the code interpreter gave a malformed answer");
		return NULL;
	}
	json_t *e = json_object_get(o, "error");
	if (!e)
		return o;
	const char *msg = json_string_value(json_object_get(e, "value"));
	const char *code = json_string_value(json_object_get(e, "code"));
	enum err_code c = ERR_INVALID;
	if (code && !strcmp(code, "not_found"))
		c = ERR_NOT_FOUND;
	else if (code && !strcmp(code, "conflict"))
		c = ERR_CONFLICT;
	else if (code && !strcmp(code, "limit"))
		c = ERR_LIMIT;
	err_set(err, c, "%s", msg ? msg : "the code interpreter refused the request");
	json_decref(o);
	return NULL;
}

json_t *interp_context_check(json_t *ctx, struct thaw_err **err)
{
	json_t *id = json_object_get(ctx, "id"), *cwd = json_object_get(ctx, "cwd");
	json_t *env = json_object_get(ctx, "env"), *pid = json_object_get(ctx, "pid");
	if (!json_is_string(id) || json_string_length(id) == 0 || json_string_length(id) > 64 ||
	    !json_is_string(cwd) || !json_is_object(env) || !json_is_integer(pid)) {
		err_set(err, ERR_GUEST, "the code interpreter described a context wrongly");
		return NULL;
	}
	const char *k;
	json_t *v;
	json_object_foreach(env, k, v)
	{
		if (!json_is_string(v)) {
			err_set(err, ERR_GUEST, "the code interpreter described a context wrongly");
			return NULL;
		}
	}
	return json_pack("{s:O,s:s,s:O,s:O,s:O}", "id", id, "language", "python", "cwd", cwd,
			 "env", env, "pid", pid);
}
