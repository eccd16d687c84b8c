/* E2B's create body → thaw's. Each E2B field maps onto one of thaw's or
 * is refused by name: a sandbox that silently lacks what was asked (no
 * egress filter, no volume) is worse than an error. */
#include <stdio.h>
#include <string.h>

#include "api/validate.h"
#include "e2b/control.h"

static int only(json_t *o, const char *what, const char *const *allowed, struct thaw_err **err)
{
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v)
	{
		bool ok = false;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = strcmp(key, allowed[i]) == 0;
		if (!ok)
			return err_set(err, ERR_INVALID,
				       "field %s%s\"%.64s\" is not supported by thaw", what,
				       *what ? "." : "", key);
	}
	return 0;
}

static bool present(json_t *v)
{
	return v && !json_is_null(v);
}

static int get_bool(json_t *o, const char *key, const char *what, bool dflt, bool *out,
		    struct thaw_err **err)
{
	json_t *v = json_object_get(o, key);
	if (present(v) && !json_is_boolean(v))
		return err_set(err, ERR_INVALID, "%s must be true or false", what);
	*out = present(v) ? json_is_true(v) : dflt;
	return 0;
}

/* allowOut or denyOut → allow or deny: IPv4 addresses and CIDRs only
 * (thaw filters packets by address; E2B's domain names need an egress
 * proxy that thaw does not have). */
static int egress_list(json_t *net, const char *key, json_t *policy, const char *to,
		       struct thaw_err **err)
{
	json_t *list = json_object_get(net, key);
	if (!present(list))
		return 0;
	if (!json_is_array(list))
		return err_set(err, ERR_INVALID, "network.%s must be an array of strings", key);
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
	{
		if (!json_is_string(e))
			return err_set(err, ERR_INVALID, "network.%s[%zu] must be a string", key,
				       i);
		const char *s = json_string_value(e);
		if (strspn(s, "0123456789./:") != strlen(s) || !*s)
			return err_set(err, ERR_INVALID,
				       "network.%s[%zu] \"%.128s\": only IPv4 addresses and CIDRs "
				       "are supported (thaw filters egress by address; domain "
				       "names are not)",
				       key, i, s);
	}
	json_object_set(policy, to, list);
	return 0;
}

static int network(json_t *e2b, json_t *out, struct thaw_err **err)
{
	static const char *const fields[] = { "allowOut", "denyOut", NULL };
	bool internet;
	if (get_bool(e2b, "allow_internet_access", "allow_internet_access", true, &internet, err) <
	    0)
		return -1;
	json_t *net = json_object_get(e2b, "network");
	json_t *policy = json_pack("{s:b}", "internet", internet);
	json_object_set_new(out, "network", policy);
	if (!present(net))
		return 0;
	if (!json_is_object(net))
		return err_set(err, ERR_INVALID, "network must be an object");
	if (only(net, "network", fields, err) < 0 ||
	    egress_list(net, "allowOut", policy, "allow", err) < 0 ||
	    egress_list(net, "denyOut", policy, "deny", err) < 0)
		return -1;
	return 0;
}

/* autoPause, autoPauseMemory, autoResume{enabled} → on_timeout,
 * auto_resume. */
static int lifecycle(json_t *e2b, json_t *out, struct thaw_err **err)
{
	bool pause, memory, resume = false;
	if (get_bool(e2b, "autoPause", "autoPause", false, &pause, err) < 0 ||
	    get_bool(e2b, "autoPauseMemory", "autoPauseMemory", true, &memory, err) < 0)
		return -1;
	if (!memory)
		return err_set(err, ERR_INVALID,
			       "autoPauseMemory: false (a filesystem-only pause) is not supported: "
			       "thaw's pauses keep memory");
	json_t *ar = json_object_get(e2b, "autoResume");
	if (present(ar)) {
		static const char *const fields[] = { "enabled", NULL };
		if (!json_is_object(ar))
			return err_set(err, ERR_INVALID, "autoResume must be {\"enabled\": bool}");
		if (only(ar, "autoResume", fields, err) < 0 ||
		    get_bool(ar, "enabled", "autoResume.enabled", false, &resume, err) < 0)
			return -1;
	}
	json_object_set_new(out, "on_timeout", json_string(pause ? "pause" : "delete"));
	json_object_set_new(out, "auto_resume", json_boolean(resume));
	return 0;
}

static int refused(json_t *e2b, struct thaw_err **err)
{
	static const struct {
		const char *field, *why;
	} no[] = {
		{ "volumeMounts", "thaw has no volumes" },
		{ "mcp", "thaw has no MCP gateway" },
		{ "iam", "thaw issues no IAM tokens" },
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (present(json_object_get(e2b, no[i].field)))
			return err_set(err, ERR_INVALID, "%s is not supported: %s", no[i].field,
				       no[i].why);
	return 0;
}

static int basics(json_t *e2b, int64_t max_timeout, json_t *out, struct thaw_err **err)
{
	json_t *t = json_object_get(e2b, "templateID");
	char name[64] = "base";
	if (present(t) && !json_is_string(t))
		return err_set(err, ERR_INVALID, "templateID must be a string");
	if (present(t))
		snprintf(name, sizeof(name), "%s", json_string_value(t));
	if (present(t) && strlen(json_string_value(t)) >= sizeof(name))
		return err_set(err, ERR_INVALID, "templateID is longer than 63 characters");
	char thaw[64];
	if (e2b_template_resolve(name, thaw, err) < 0)
		return -1;
	json_object_set_new(out, "template", json_string(thaw));
	json_t *to = json_object_get(e2b, "timeout");
	if (present(to) && (!json_is_integer(to) || json_integer_value(to) < 1 ||
			    json_integer_value(to) > max_timeout))
		return err_set(err, ERR_INVALID,
			       "timeout must be an integer number of seconds from 1 to %lld",
			       (long long)max_timeout);
	if (present(to))
		json_object_set(out, "timeout_s", to);
	json_t *md = json_object_get(e2b, "metadata");
	if (present(md)) {
		if (!json_is_object(md))
			return err_set(err, ERR_INVALID, "metadata must be an object of strings");
		const char *k;
		json_t *v;
		json_object_foreach(md, k, v)
		{
			if (!json_is_string(v))
				return err_set(err, ERR_INVALID, "metadata.%.64s must be a string",
					       k);
		}
		json_object_set(out, "metadata", md);
	}
	json_t *env = json_object_get(e2b, "envVars");
	if (present(env)) {
		if (validate_env_object(env, "envVars", err) < 0)
			return -1;
		json_object_set(out, "env", env);
	}
	return 0;
}

int e2b_create_body(json_t *e2b, int64_t max_timeout, json_t **out, struct thaw_err **err)
{
	static const char *const fields[] = {
		"templateID", "metadata",  "envVars",	      "timeout",    "allow_internet_access",
		"network",    "autoPause", "autoPauseMemory", "autoResume", "secure",
		"mcp",	      "iam",	   "volumeMounts",    NULL
	};
	/* secure: false is taken: thaw checks every sandbox's access token
	 * anyway, and the SDK sends the one it is given. */
	bool secure;
	if (refused(e2b, err) < 0 || only(e2b, "", fields, err) < 0 ||
	    get_bool(e2b, "secure", "secure", true, &secure, err) < 0)
		return -1;
	json_t *o = json_object();
	if (basics(e2b, max_timeout, o, err) < 0 || network(e2b, o, err) < 0 ||
	    lifecycle(e2b, o, err) < 0) {
		json_decref(o);
		return -1;
	}
	*out = o;
	return 0;
}
