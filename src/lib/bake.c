/* POST /v1/templates: a bake streams NDJSON events while it runs. Each
 * line is handled as it arrives so progress reaches the caller live; the
 * last line says "done" or "error". */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct bake {
	const thaw_bake_options *opts;
	bool finished;            /* a "done" or "error" event arrived */
	thaw_bake_result *result; /* set by "done" */
};

static void bake_progress(struct bake *b, const json_t *ev)
{
	if (!b->opts->on_progress)
		return;
	const char *stage = json_string_value(json_object_get(ev, "stage"));
	const char *message = json_string_value(json_object_get(ev, "message"));
	thaw_bake_progress p = {
		.stage = stage ? stage : "",
		.step = tl_json_int_or_0(ev, "step"),
		.steps = tl_json_int_or_0(ev, "steps"),
		.message = message ? message : "",
	};
	b->opts->on_progress(&p, b->opts->userdata);
}

static int bake_done(struct bake *b, const json_t *ev, thaw_error **err)
{
	thaw_template *t = NULL;
	if (tl_template_parse(json_object_get(ev, "template"), &t, err) < 0)
		return -1;
	b->result = tl_xcalloc(1, sizeof(*b->result));
	b->result->template_info = t;
	b->result->elapsed_ms = json_number_value(json_object_get(ev, "elapsed_ms"));
	return 0;
}

static int bake_failed(const json_t *ev, thaw_error **err)
{
	const char *msg = json_string_value(json_object_get(ev, "error"));
	const char *code = json_string_value(json_object_get(ev, "code"));
	return tl_error_set(err, 0, code ? code : "internal", "%s",
			    msg ? msg : "the bake failed without saying why");
}

static int bake_on_line(const char *line, size_t len, void *ud, thaw_error **err)
{
	struct bake *b = ud;
	if (b->finished)
		return tl_error_set(err, 0, TL_PROTOCOL, "the bake stream went on after its end");
	json_t *ev = json_loadb(line, len, 0, NULL);
	const char *kind = json_string_value(json_object_get(ev, "event"));
	int rc = 0;
	if (!kind)
		rc = tl_error_set(err, 0, TL_PROTOCOL, "a bake stream line is not an event");
	else if (strcmp(kind, "progress") == 0)
		bake_progress(b, ev);
	else if (strcmp(kind, "done") == 0)
		rc = bake_done(b, ev, err);
	else if (strcmp(kind, "error") == 0)
		rc = bake_failed(ev, err);
	/* Unknown event kinds are skipped: the server may add some. */
	b->finished = rc < 0 || strcmp(kind, "done") == 0;
	json_decref(ev);
	return rc;
}

THAW_API int thaw_template_bake(thaw_client *client, const char *name,
				const thaw_bake_options *opts, thaw_bake_result **out,
				thaw_error **err)
{
	static const thaw_bake_options defaults = { 0 };
	json_t *v = NULL;
	if (!name)
		return tl_error_set(err, 0, TL_INVALID, "the template name is NULL");
	if (tl_json_from_str(name, "the template name", &v, err) < 0)
		return -1;
	json_t *body = json_pack("{s:o}", "name", v);
	struct bake b = { .opts = opts ? opts : &defaults };
	struct tl_request req = { .method = "POST",
				  .path = "/v1/templates",
				  .body = body,
				  .expect = 200,
				  .on_line = bake_on_line,
				  .line_ud = &b };
	int rc = tl_http_call(client, &req, NULL, err);
	json_decref(body);
	if (rc == 0 && !b.result)
		rc = tl_error_set(err, 0, TL_PROTOCOL, "the bake stream ended before the bake did");
	if (rc == 0 && out)
		*out = b.result;
	else
		thaw_bake_result_free(b.result);
	return rc;
}

THAW_API void thaw_bake_result_free(thaw_bake_result *res)
{
	if (!res)
		return;
	thaw_template_free(res->template_info);
	free(res);
}
