/* Env: the environment a sandbox was created with (fixed for life,
 * inherited by fork children), handed to whoever starts a command in it.
 * It was checked at create; a database row is checked again here. */
#include <jansson.h>
#include <string.h>

#include "core/registry.h"
#include "ops/ops.h"

static bool env_ok(json_t *env)
{
	const char *k;
	json_t *v;
	if (!json_is_object(env))
		return false;
	json_object_foreach(env, k, v)
	{
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
			return false;
	}
	return true;
}

int sandbox_env_get(struct host *h, const char *id, json_t **env_out, struct thaw_err **err)
{
	struct sandbox *sb = registry_get(h, id);
	if (!sb)
		return err_set(err, ERR_NOT_FOUND, "sandbox %s does not exist", id);
	json_t *env = sb->env ? json_loads(sb->env, JSON_REJECT_DUPLICATES, NULL) : json_object();
	sandbox_unref(h, sb);
	if (!env || !env_ok(env)) {
		json_decref(env);
		return err_set(err, ERR_CORRUPT,
			       "the stored environment of sandbox %s is not valid", id);
	}
	*env_out = env;
	return 0;
}
