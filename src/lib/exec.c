/* POST /v1/sandboxes/{id}/exec. Output is always requested as base64 so
 * that binary bytes and invalid UTF-8 come back exactly as written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int cmd_json(const thaw_exec_options *o, json_t **out, thaw_error **err)
{
	if (!o->argv == !o->shell)
		return tl_error_set(err, 0, TL_INVALID, "give exactly one of argv and shell");
	if (o->shell)
		return tl_json_from_str(o->shell, "the shell command", out, err);
	if (!o->argv[0])
		return tl_error_set(err, 0, TL_INVALID, "argv is empty");
	json_t *arr = json_array();
	for (size_t i = 0; o->argv[i]; i++) {
		json_t *v = NULL;
		char what[48];
		snprintf(what, sizeof(what), "argv[%zu]", i);
		if (tl_json_from_str(o->argv[i], what, &v, err) < 0) {
			json_decref(arr);
			return -1;
		}
		json_array_append_new(arr, v);
	}
	*out = arr;
	return 0;
}

/* "KEY=VALUE" strings to {"KEY":"VALUE"}; a later duplicate wins. The
 * server checks the names; here only the shape. */
int tl_env_json(const char *const *env, json_t **out, thaw_error **err)
{
	json_t *obj = json_object();
	for (size_t i = 0; env[i]; i++) {
		const char *eq = strchr(env[i], '=');
		json_t *v = NULL;
		if (!eq || eq == env[i]) {
			json_decref(obj);
			return tl_error_set(err, 0, TL_INVALID,
					    "env entry \"%.64s\" is not KEY=VALUE", env[i]);
		}
		char *key = tl_xstrndup(env[i], (size_t)(eq - env[i]));
		int rc = tl_json_from_str(eq + 1, "an env value", &v, err);
		if (rc == 0 && json_object_set_new(obj, key, v) < 0)
			rc = tl_error_set(err, 0, TL_INVALID,
					  "env name \"%.64s\" is not valid UTF-8", key);
		free(key);
		if (rc < 0) {
			json_decref(obj);
			return -1;
		}
	}
	*out = obj;
	return 0;
}

/* Adds the optional fields (env, cwd, stdin, timeout, user, tag, ...) to body. */
static int optional_json(const thaw_exec_options *o, json_t *body, thaw_error **err)
{
	json_t *v = NULL;
	if (o->env) {
		if (tl_env_json(o->env, &v, err) < 0)
			return -1;
		json_object_set_new(body, "env", v);
	}
	if (o->cwd) {
		if (tl_json_from_str(o->cwd, "cwd", &v, err) < 0)
			return -1;
		json_object_set_new(body, "cwd", v);
	}
	if (o->has_stdin) {
		if (!o->stdin_data && o->stdin_len)
			return tl_error_set(err, 0, TL_INVALID, "stdin_data is NULL");
		char *b64 = tl_base64_encode(o->stdin_data, o->stdin_len);
		json_object_set_new(body, "stdin_b64", json_string(b64));
		free(b64);
	}
	if (o->timeout_s < 0)
		return tl_error_set(err, 0, TL_INVALID, "timeout_s must not be negative");
	if (o->timeout_s)
		json_object_set_new(body, "timeout_s", json_integer(o->timeout_s));
	if (o->auto_resume)
		json_object_set_new(body, "auto_resume", json_true());
	if (o->kill_on_disconnect)
		json_object_set_new(body, "kill_on_disconnect", json_true());
	const char *names[] = { "user", "tag" };
	const char *vals[] = { o->user, o->tag };
	for (size_t i = 0; i < 2; i++) {
		if (!vals[i])
			continue;
		if (tl_json_from_str(vals[i], names[i], &v, err) < 0)
			return -1;
		json_object_set_new(body, names[i], v);
	}
	return 0;
}

static int exec_body(const thaw_exec_options *o, json_t **out, thaw_error **err)
{
	json_t *cmd = NULL;
	if (cmd_json(o, &cmd, err) < 0)
		return -1;
	json_t *body = json_pack("{s:o,s:s}", "cmd", cmd, "encoding", "base64");
	if (!body)
		abort();
	if (optional_json(o, body, err) < 0) {
		json_decref(body);
		return -1;
	}
	*out = body;
	return 0;
}

/* One output stream: base64 as asked, or text from a server that ignored
 * the request (jansson keeps embedded NULs, so the length is exact). */
static int output_decode(const json_t *resp, const char *key, bool base64, char **data, size_t *len,
			 thaw_error **err)
{
	const json_t *v = json_object_get(resp, key);
	if (!json_is_string(v))
		return tl_error_set(err, 0, TL_PROTOCOL, "the exec result has no string \"%s\"",
				    key);
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (!base64) {
		*data = tl_xstrndup(s, n);
		*len = n;
		return 0;
	}
	if (tl_base64_decode(s, n, data, len) < 0)
		return tl_error_set(err, 0, TL_PROTOCOL, "the exec result's %s is not valid base64",
				    key);
	return 0;
}

static int result_parse(const json_t *resp, thaw_exec_result **out, thaw_error **err)
{
	int code;
	if (tl_json_int(resp, "exit_code", &code) < 0)
		return tl_error_set(err, 0, TL_PROTOCOL,
				    "the exec result has no integer exit_code");
	const char *enc = json_string_value(json_object_get(resp, "encoding"));
	bool base64 = !enc || strcmp(enc, "base64") == 0;
	thaw_exec_result *r = tl_xcalloc(1, sizeof(*r));
	if (output_decode(resp, "stdout", base64, &r->stdout_data, &r->stdout_len, err) < 0 ||
	    output_decode(resp, "stderr", base64, &r->stderr_data, &r->stderr_len, err) < 0) {
		thaw_exec_result_free(r);
		return -1;
	}
	r->exit_code = code;
	r->signal = tl_json_int_or_0(resp, "signal");
	r->timed_out = json_is_true(json_object_get(resp, "timed_out"));
	r->duration_ms = json_number_value(json_object_get(resp, "duration_ms"));
	r->stdout_truncated = json_is_true(json_object_get(resp, "stdout_truncated"));
	r->stderr_truncated = json_is_true(json_object_get(resp, "stderr_truncated"));
	*out = r;
	return 0;
}

THAW_API int thaw_sandbox_exec(thaw_client *client, const char *id, const thaw_exec_options *opts,
			       thaw_exec_result **out, thaw_error **err)
{
	json_t *body = NULL;
	if (!opts)
		return tl_error_set(err, 0, TL_INVALID, "exec needs options with a command");
	if (tl_check_id(id, "sandbox id", err) < 0 || exec_body(opts, &body, err) < 0)
		return -1;
	char path[192];
	snprintf(path, sizeof(path), "/v1/sandboxes/%s/exec", id);
	struct tl_request req = { .method = "POST", .path = path, .body = body, .expect = 200 };
	json_t *resp = NULL;
	int rc = tl_http_call(client, &req, &resp, err);
	if (rc == 0)
		rc = result_parse(resp, out, err);
	json_decref(resp);
	json_decref(body);
	return rc;
}

/* ---- streaming --------------------------------------------------------- */

static int stream_data(struct tl_stream_exec *x, int stream, const json_t *ev, thaw_error **err)
{
	const json_t *d = json_object_get(ev, "data");
	if (!json_is_string(d))
		return tl_error_set(err, 0, TL_PROTOCOL, "an output event has no data");
	char *bytes = NULL;
	size_t len = 0;
	if (tl_base64_decode(json_string_value(d), json_string_length(d), &bytes, &len) < 0)
		return tl_error_set(err, 0, TL_PROTOCOL, "an output event is not valid base64");
	int stop = x->on_output(stream, bytes, len, x->ud);
	free(bytes);
	return stop ? tl_error_set(err, 0, "cancelled", "the output callback stopped the exec") : 0;
}

static int stream_exit(struct tl_stream_exec *x, const json_t *ev, thaw_error **err)
{
	int code;
	if (tl_json_int(ev, "exit_code", &code) < 0)
		return tl_error_set(err, 0, TL_PROTOCOL, "the exit event has no exit_code");
	thaw_exec_result *r = tl_xcalloc(1, sizeof(*r));
	r->exit_code = code;
	r->signal = tl_json_int_or_0(ev, "signal");
	r->timed_out = json_is_true(json_object_get(ev, "timed_out"));
	r->duration_ms = json_number_value(json_object_get(ev, "duration_ms"));
	r->stdout_data = tl_xstrdup("");
	r->stderr_data = tl_xstrdup("");
	x->result = r;
	return 0;
}

int tl_stream_on_line(const char *line, size_t len, void *ud, thaw_error **err)
{
	struct tl_stream_exec *x = ud;
	if (x->finished)
		return tl_error_set(err, 0, TL_PROTOCOL, "the exec stream went on after its end");
	json_t *ev = json_loadb(line, len, 0, NULL);
	const char *type = json_string_value(json_object_get(ev, "type"));
	int rc = 0;
	if (!type) {
		rc = tl_error_set(err, 0, TL_PROTOCOL, "an exec stream line is not an event");
	} else if (strcmp(type, "stdout") == 0 || strcmp(type, "stderr") == 0) {
		rc = stream_data(x, type[3] == 'o' ? 1 : 2, ev, err);
	} else if (strcmp(type, "exit") == 0) {
		rc = stream_exit(x, ev, err);
		x->finished = true;
	} else if (strcmp(type, "error") == 0) {
		const char *msg = json_string_value(json_object_get(ev, "error"));
		const char *code = json_string_value(json_object_get(ev, "code"));
		rc = tl_error_set(err, 0, code ? code : "internal", "%s",
				  msg ? msg : "the exec failed without saying why");
	}
	json_decref(ev);
	return rc;
}

THAW_API int thaw_sandbox_exec_stream(thaw_client *client, const char *id,
				      const thaw_exec_options *opts, thaw_output_fn on_output,
				      void *userdata, thaw_exec_result **out, thaw_error **err)
{
	json_t *body = NULL;
	if (!opts || !on_output)
		return tl_error_set(err, 0, TL_INVALID,
				    "a streamed exec needs options and an output callback");
	if (tl_check_id(id, "sandbox id", err) < 0 || exec_body(opts, &body, err) < 0)
		return -1;
	json_object_set_new(body, "stream", json_true());
	char path[192];
	snprintf(path, sizeof(path), "/v1/sandboxes/%s/exec", id);
	struct tl_stream_exec x = { .on_output = on_output, .ud = userdata };
	struct tl_request req = { .method = "POST",
				  .path = path,
				  .body = body,
				  .expect = 200,
				  .on_line = tl_stream_on_line,
				  .line_ud = &x };
	int rc = tl_http_call(client, &req, NULL, err);
	json_decref(body);
	if (rc == 0 && !x.result)
		rc = tl_error_set(err, 0, TL_PROTOCOL, "the exec stream ended before the command");
	if (rc == 0)
		*out = x.result;
	else
		thaw_exec_result_free(x.result);
	return rc;
}

THAW_API void thaw_exec_result_free(thaw_exec_result *res)
{
	if (!res)
		return;
	free(res->stdout_data);
	free(res->stderr_data);
	free(res);
}
