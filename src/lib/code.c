/* POST /v1/sandboxes/{id}/run_code, always streamed: output and results
 * reach the caller while the cell runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct code_stream {
	const thaw_code_handlers *h;
	thaw_code_execution *ex;
	bool ended;
};

static int on_result(struct code_stream *s, json_t *ev, thaw_error **err)
{
	thaw_code_result r = { .is_main_result =
				       json_is_true(json_object_get(ev, "is_main_result")) };
	const char **fields[] = { &r.text, &r.html, &r.markdown, &r.svg,       &r.png,
				  &r.jpeg, &r.pdf,  &r.latex,	 &r.javascript };
	static const char *const names[] = { "text", "html", "markdown", "svg",	      "png",
					     "jpeg", "pdf",  "latex",	 "javascript" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		*fields[i] = json_string_value(json_object_get(ev, names[i]));
	json_t *j = json_object_get(ev, "json");
	char *json_text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	r.json = json_text;
	s->ex->n_results++;
	int stop = s->h && s->h->on_result ? s->h->on_result(&r, s->h->userdata) : 0;
	free(json_text);
	return stop ? tl_error_set(err, 0, "cancelled", "stopped by the result callback") : 0;
}

static char *dup_field(json_t *ev, const char *name)
{
	const char *v = json_string_value(json_object_get(ev, name));
	return strdup(v ? v : "");
}

static int on_line(const char *line, size_t len, void *ud, thaw_error **err)
{
	struct code_stream *s = ud;
	if (s->ended)
		return tl_error_set(err, 0, TL_PROTOCOL,
				    "the run_code stream went on after its end");
	json_t *ev = json_loadb(line, len, 0, NULL);
	const char *type = json_string_value(json_object_get(ev, "type"));
	int rc = 0;
	if (!type) {
		rc = tl_error_set(err, 0, TL_PROTOCOL, "a run_code stream line is not an event");
	} else if (!strcmp(type, "stdout") || !strcmp(type, "stderr")) {
		json_t *t = json_object_get(ev, "text");
		if (s->h && s->h->on_output &&
		    s->h->on_output(type[3] == 'o' ? 1 : 2,
				    json_string_value(t) ? json_string_value(t) : "",
				    json_string_length(t), s->h->userdata))
			rc = tl_error_set(err, 0, "cancelled", "stopped by the output callback");
	} else if (!strcmp(type, "result")) {
		rc = on_result(s, ev, err);
	} else if (!strcmp(type, "error") && json_object_get(ev, "code")) {
		/* the sandbox failed, not the code */
		rc = tl_error_set(err, 0, json_string_value(json_object_get(ev, "code")), "%s",
				  json_string_value(json_object_get(ev, "value"))
					  ? json_string_value(json_object_get(ev, "value"))
					  : "run_code failed");
	} else if (!strcmp(type, "error")) {
		free(s->ex->error_name);
		free(s->ex->error_value);
		free(s->ex->error_traceback);
		s->ex->error_name = dup_field(ev, "name");
		s->ex->error_value = dup_field(ev, "value");
		s->ex->error_traceback = dup_field(ev, "traceback");
	} else if (!strcmp(type, "end")) {
		s->ended = true;
		s->ex->duration_ms = json_number_value(json_object_get(ev, "duration_ms"));
	}
	json_decref(ev);
	return rc;
}

THAW_API int thaw_sandbox_run_code(thaw_client *client, const char *id,
				   const thaw_run_code_options *opts,
				   const thaw_code_handlers *handlers, thaw_code_execution **out,
				   thaw_error **err)
{
	if (!opts || !opts->code || !out)
		return tl_error_set(err, 0, TL_INVALID, "run_code needs options with code");
	if (tl_check_id(id, "sandbox id", err) < 0)
		return -1;
	json_t *code = NULL;
	if (tl_json_from_str(opts->code, "the code", &code, err) < 0)
		return -1;
	json_t *body = json_pack("{s:o,s:b}", "code", code, "stream", 1);
	if (opts->context)
		json_object_set_new(body, "context", json_string(opts->context));
	if (opts->timeout_s > 0)
		json_object_set_new(body, "timeout_s", json_integer(opts->timeout_s));
	if (opts->auto_resume)
		json_object_set_new(body, "auto_resume", json_true());
	if (opts->env) {
		json_t *env = NULL;
		if (tl_env_json(opts->env, &env, err) < 0) {
			json_decref(body);
			return -1;
		}
		json_object_set_new(body, "env", env);
	}
	char path[192];
	snprintf(path, sizeof(path), "/v1/sandboxes/%s/run_code", id);
	struct code_stream s = { .h = handlers, .ex = calloc(1, sizeof(thaw_code_execution)) };
	if (!s.ex)
		abort();
	struct tl_request req = { .method = "POST",
				  .path = path,
				  .body = body,
				  .expect = 200,
				  .on_line = on_line,
				  .line_ud = &s };
	int rc = tl_http_call(client, &req, NULL, err);
	json_decref(body);
	if (rc == 0 && !s.ended)
		rc = tl_error_set(err, 0, TL_PROTOCOL, "the run_code stream ended before the cell");
	if (rc == 0)
		*out = s.ex;
	else
		thaw_code_execution_free(s.ex);
	return rc;
}

THAW_API void thaw_code_execution_free(thaw_code_execution *ex)
{
	if (!ex)
		return;
	free(ex->error_name);
	free(ex->error_value);
	free(ex->error_traceback);
	free(ex);
}

THAW_API int thaw_base64_decode(const char *in, void **out, size_t *out_len)
{
	char *data = NULL;
	size_t len = 0;
	if (!in || tl_base64_decode(in, strlen(in), &data, &len) < 0)
		return -1;
	*out = data;
	*out_len = len;
	return 0;
}
