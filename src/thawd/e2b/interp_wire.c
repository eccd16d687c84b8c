/* The E2B code interpreter's wire shapes, without I/O: what
 * @e2b/code-interpreter sends (parsed and checked here) and the NDJSON
 * lines and context objects it reads (built here from thaw's events,
 * which guestconn/interp.c has already checked and rebuilt). */
#include "e2b/interp.h"

#include <string.h>

#include "api/validate.h"

/* A result's fields, named alike in thaw's events and E2B's lines. E2B's
 * "data", "chart" and "extra" have no source in thaw's interpreter. */
static const char *const result_fields[] = {
	"text", "html", "markdown", "svg", "png", "jpeg", "pdf", "latex", "json", "javascript",
};

int e2b_interp_language(json_t *language, struct thaw_err **err)
{
	if (!language || json_is_null(language))
		return 0;
	if (!json_is_string(language))
		return err_set(err, ERR_INVALID, "language must be a string");
	if (strcmp(json_string_value(language), "python") == 0)
		return 0;
	/* 404: the only status whose body the SDK puts in its error. */
	return err_set(err, ERR_NOT_FOUND,
		       "language \"%.40s\" is not available: thaw's code interpreter runs "
		       "python only",
		       json_string_value(language));
}

/* A field that may be absent or null; NULL for both. */
static json_t *field(json_t *body, const char *name)
{
	json_t *v = json_object_get(body, name);
	return json_is_null(v) ? NULL : v;
}

/* Only the names in known; anything else would be silently ignored. */
static int known_fields(json_t *body, const char *const *known, size_t n, const char *what,
			struct thaw_err **err)
{
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		size_t i = 0;
		while (i < n && strcmp(k, known[i]) != 0)
			i++;
		if (i == n)
			return err_set(err, ERR_INVALID, "%s takes no field \"%.64s\"", what, k);
	}
	return 0;
}

int e2b_execute_parse(json_t *body, struct e2b_execute *out, struct thaw_err **err)
{
	static const char *const known[] = { "code", "context_id", "language", "env_vars" };
	if (!json_is_object(body))
		return err_set(err, ERR_INVALID, "execute wants a JSON object");
	if (known_fields(body, known, sizeof(known) / sizeof(known[0]), "execute", err) < 0)
		return -1;
	json_t *code = json_object_get(body, "code"), *ctx = field(body, "context_id");
	if (!json_is_string(code))
		return err_set(err, ERR_INVALID, "execute wants \"code\", a string");
	if (strlen(json_string_value(code)) != json_string_length(code))
		return err_set(err, ERR_INVALID, "code must not contain NUL characters");
	if (ctx && !json_is_string(ctx))
		return err_set(err, ERR_INVALID, "context_id must be a string");
	/* thaw's context ids are [A-Za-z0-9_-]: any other cannot exist. */
	if (ctx && !valid_context_id(json_string_value(ctx)))
		return err_set(err, ERR_NOT_FOUND, "no context \"%.64s\" in this sandbox",
			       json_string_value(ctx));
	if (e2b_interp_language(field(body, "language"), err) < 0)
		return -1;
	json_t *env = field(body, "env_vars");
	if (validate_env_object(env, "env_vars", err) < 0)
		return -1;
	out->code = json_string_value(code);
	out->context = ctx ? json_string_value(ctx) : NULL;
	out->env = env;
	return 0;
}

int e2b_context_parse(json_t *body, const char **cwd, struct thaw_err **err)
{
	static const char *const known[] = { "language", "cwd" };
	if (!json_is_object(body))
		return err_set(err, ERR_INVALID, "a context wants a JSON object");
	if (known_fields(body, known, sizeof(known) / sizeof(known[0]), "a context", err) < 0 ||
	    e2b_interp_language(field(body, "language"), err) < 0)
		return -1;
	json_t *c = field(body, "cwd");
	if (c &&
	    (!json_is_string(c) || json_string_value(c)[0] != '/' || json_string_length(c) > 4096 ||
	     strlen(json_string_value(c)) != json_string_length(c)))
		return err_set(err, ERR_INVALID,
			       "cwd must be an absolute path of at most 4096 characters");
	*cwd = c ? json_string_value(c) : NULL;
	return 0;
}

static json_t *result_line(json_t *event)
{
	json_t *o = json_pack("{s:s,s:b}", "type", "result", "is_main_result",
			      json_is_true(json_object_get(event, "is_main_result")));
	for (size_t i = 0; i < sizeof(result_fields) / sizeof(result_fields[0]); i++) {
		json_t *v = json_object_get(event, result_fields[i]);
		if (v)
			json_object_set(o, result_fields[i], v);
	}
	return o;
}

json_t *e2b_interp_line(json_t *event, int64_t now_ns)
{
	const char *type = json_string_value(json_object_get(event, "type"));
	if (!type)
		return NULL;
	if (!strcmp(type, "stdout") || !strcmp(type, "stderr"))
		return json_pack("{s:s,s:O,s:I}", "type", type, "text",
				 json_object_get(event, "text"), "timestamp", (json_int_t)now_ns);
	if (!strcmp(type, "result"))
		return result_line(event);
	if (!strcmp(type, "error"))
		return json_pack("{s:s,s:O,s:O,s:O}", "type", "error", "name",
				 json_object_get(event, "name"), "value",
				 json_object_get(event, "value"), "traceback",
				 json_object_get(event, "traceback"));
	return NULL;
}

json_t *e2b_interp_failure_line(const struct thaw_err *e)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "type", "error", "name", "SandboxError", "value",
			 e ? err_msg(e) : "the code interpreter failed", "traceback", "");
}

json_t *e2b_interp_context(json_t *ctx)
{
	return json_pack("{s:O,s:s,s:O}", "id", json_object_get(ctx, "id"), "language", "python",
			 "cwd", json_object_get(ctx, "cwd"));
}
