/* Request bodies of run_code and of the code interpreter's contexts.
 * Pure functions of a JSON value, like validate.c. */
#include <string.h>

#include "api/validate.h"

bool valid_context_id(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > CONTEXT_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

int validate_run_code(json_t *body, struct run_code_params *p, struct thaw_err **err)
{
	const char *language = "python";
	json_error_t je;
	memset(p, 0, sizeof(*p));
	p->timeout_s = RUN_CODE_DEFAULT_TIMEOUT_S;
	int auto_resume = 0, stream = 0;
	if (json_unpack_ex(body, &je, JSON_STRICT, "{s:s,s?s,s?i,s?b,s?b,s?s,s?o}", "code", &p->code,
			   "language", &language, "timeout_s", &p->timeout_s, "auto_resume",
			   &auto_resume, "stream", &stream, "context", &p->context, "env",
			   &p->env) < 0)
		return err_set(err, ERR_INVALID,
			       "run_code wants {\"code\": str, \"language\", \"timeout_s\", "
			       "\"context\", \"env\", \"stream\", \"auto_resume\"}: %s",
			       je.text);
	if (strlen(p->code) != json_string_length(json_object_get(body, "code")))
		return err_set(err, ERR_INVALID, "code must not contain NUL characters");
	if (strcmp(language, "python") != 0)
		return err_set(err, ERR_INVALID,
			       "language must be \"python\" (the only one so far)");
	if (p->timeout_s < 1 || p->timeout_s > RUN_CODE_MAX_TIMEOUT_S)
		return err_set(err, ERR_INVALID, "timeout_s must be from 1 to %d",
			       RUN_CODE_MAX_TIMEOUT_S);
	if (p->context && !valid_context_id(p->context))
		return err_set(err, ERR_INVALID,
			       "context must be 1-%d characters of [A-Za-z0-9_-]", CONTEXT_ID_MAX);
	if (validate_env_object(p->env, "env", err) < 0)
		return -1;
	p->auto_resume = auto_resume;
	p->stream = stream;
	return 0;
}

int validate_context_create(json_t *body, struct context_params *p, struct thaw_err **err)
{
	const char *language = "python";
	json_error_t je;
	memset(p, 0, sizeof(*p));
	if (json_unpack_ex(body, &je, JSON_STRICT, "{s?s,s?s,s?o}", "language", &language, "cwd",
			   &p->cwd, "env", &p->env) < 0)
		return err_set(err, ERR_INVALID,
			       "a context wants {\"language\", \"cwd\", \"env\"}: %s", je.text);
	if (strcmp(language, "python") != 0)
		return err_set(err, ERR_INVALID,
			       "language must be \"python\" (the only one so far)");
	if (p->cwd && (p->cwd[0] != '/' || strlen(p->cwd) > 4096 ||
		       strlen(p->cwd) != json_string_length(json_object_get(body, "cwd"))))
		return err_set(err, ERR_INVALID,
			       "cwd must be an absolute path of at most 4096 characters");
	return validate_env_object(p->env, "env", err);
}
