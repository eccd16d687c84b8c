#include "api/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "net/netpolicy.h"
#include "proto.h"
#include "utf8.h"

/* The environment every command starts from; the request adds to it. */
static const char *const base_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"LANG=C.UTF-8",
	"TERM=xterm-256color",
};

static int only_fields(json_t *body, const char *const *allowed, struct thaw_err **err)
{
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v)
	{
		bool ok = false;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = strcmp(key, allowed[i]) == 0;
		if (!ok)
			return err_set(err, ERR_INVALID, "unknown field \"%.64s\"", key);
	}
	return 0;
}

static int get_timeout(json_t *body, const char *key, int64_t dflt, int64_t lo, int64_t hi,
		       int64_t *out, struct thaw_err **err)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return err_set(err, ERR_INVALID, "%s must be an integer from %lld to %lld", key,
			       (long long)lo, (long long)hi);
	*out = json_integer_value(v);
	return 0;
}

static int get_bool(json_t *body, const char *key, bool dflt, bool *out, struct thaw_err **err)
{
	json_t *v = json_object_get(body, key);
	if (v && !json_is_boolean(v))
		return err_set(err, ERR_INVALID, "%s must be true or false", key);
	*out = v ? json_is_true(v) : dflt;
	return 0;
}

/* A JSON string without NUL bytes (jansson allows \u0000). */
static int plain_string(json_t *v, const char *what, struct thaw_err **err)
{
	if (!json_is_string(v))
		return err_set(err, ERR_INVALID, "%s must be a string", what);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return err_set(err, ERR_INVALID, "%s must not contain NUL characters", what);
	return 0;
}

/* "limits": {"cpus": 0.01 .. 1024}; the template's vCPUs bound it
 * further (ops/create.c). */
static int get_limits(json_t *limits, uint32_t *cpu_millis, struct thaw_err **err)
{
	static const char *const fields[] = { "cpus", NULL };
	*cpu_millis = 0;
	if (!limits)
		return 0;
	if (!json_is_object(limits))
		return err_set(err, ERR_INVALID, "limits must be an object");
	if (only_fields(limits, fields, err) < 0)
		return err_wrap(err, "in limits");
	json_t *cpus = json_object_get(limits, "cpus");
	if (!cpus)
		return 0;
	double v = json_number_value(cpus);
	if (!json_is_number(cpus) || !(v >= 0.01 && v <= 1024))
		return err_set(err, ERR_INVALID,
			       "limits.cpus must be a number of cores from 0.01 to 1024");
	*cpu_millis = (uint32_t)(v * 1000 + 0.5);
	return 0;
}

int validate_env_object(json_t *env, const char *what, struct thaw_err **err)
{
	if (!env || json_is_null(env))
		return 0;
	if (!json_is_object(env))
		return err_set(err, ERR_INVALID, "%s must be an object of strings", what);
	if (json_object_size(env) > ENV_MAX_VARS)
		return err_set(err, ERR_INVALID, "%s has more than %d variables", what,
			       ENV_MAX_VARS);
	const char *key;
	json_t *v;
	json_object_foreach(env, key, v)
	{
		if (!valid_env_name(key))
			return err_set(err, ERR_INVALID, "%s name \"%.64s\" is not valid", what,
				       key);
		if (plain_string(v, "every env value", err) < 0)
			return -1;
	}
	return 0;
}

int validate_sandbox_env(json_t *env, char **out, struct thaw_err **err)
{
	*out = NULL;
	if (!env || json_is_null(env))
		return 0;
	if (validate_env_object(env, "env", err) < 0)
		return -1;
	char *text = json_dumps(env, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text || strlen(text) > SANDBOX_ENV_MAX_BYTES) {
		free(text);
		return err_set(err, ERR_INVALID, "env must serialize to at most %d bytes",
			       SANDBOX_ENV_MAX_BYTES);
	}
	*out = text;
	return 0;
}

int validate_network(json_t *v, struct netpolicy **out, struct thaw_err **err)
{
	return netpolicy_from_json(v, out, err);
}

/* "database": {"password": "..."}: the sandbox's database password
 * instead of a generated one (templates with a database, docs/postgres.md). */
static int create_database(json_t *db, struct create_req *out, struct thaw_err **err)
{
	static const char *const fields[] = { "password", NULL };
	if (!db)
		return 0;
	if (!json_is_object(db))
		return err_set(err, ERR_INVALID, "database must be an object");
	if (only_fields(db, fields, err) < 0)
		return err_wrap(err, "database");
	json_t *pw = json_object_get(db, "password");
	if (!pw)
		return 0;
	if (!json_is_string(pw) || !db_password_valid(json_string_value(pw)))
		return err_set(err, ERR_INVALID,
			       "database.password must be a string of %d-%d of "
			       "[A-Za-z0-9._~+/=@%%^:,-]",
			       DB_PASSWORD_MIN, DB_PASSWORD_MAX);
	out->db_password = xstrdup(json_string_value(pw));
	return 0;
}

/* "publish": [5432, ...] (issue 17): distinct ports, at most
 * CREATE_MAX_PUBLISH. */
static int create_publish(json_t *v, struct create_req *out, struct thaw_err **err)
{
	if (!v)
		return 0;
	out->has_publish = true;
	if (!json_is_array(v) || json_array_size(v) > CREATE_MAX_PUBLISH)
		return err_set(err, ERR_INVALID, "publish must be an array of at most %d ports",
			       CREATE_MAX_PUBLISH);
	size_t i;
	json_t *p;
	json_array_foreach(v, i, p)
	{
		json_int_t n = json_integer_value(p);
		if (!json_is_integer(p) || n < 1 || n > 65535)
			return err_set(err, ERR_INVALID, "publish[%zu] must be a port (1 to 65535)",
				       i);
		for (int j = 0; j < out->n_publish; j++)
			if (out->publish[j] == (int)n)
				return err_set(err, ERR_INVALID, "publish lists port %d twice",
					       (int)n);
		out->publish[out->n_publish++] = (int)n;
	}
	return 0;
}

/* "network" and "env" of a create: what every command and packet of the
 * sandbox will get. */
static int create_extras(json_t *body, struct create_req *out, struct thaw_err **err)
{
	if (create_database(json_object_get(body, "database"), out, err) < 0)
		return -1;
	if (create_publish(json_object_get(body, "publish"), out, err) < 0)
		return -1;
	json_t *net = json_object_get(body, "network");
	if (net && validate_network(net, &out->network, err) < 0)
		return -1;
	return validate_sandbox_env(json_object_get(body, "env"), &out->env, err);
}

int validate_create(json_t *body, int64_t default_timeout, int64_t max_timeout,
		    struct create_req *out, struct thaw_err **err)
{
	/* "owner" is the API's (admin keys: api/sandboxes.c), not the
	 * operation's. */
	static const char *const fields[] = { "template", "timeout_s",	"metadata",    "cold_boot",
					      "pools",	  "on_timeout", "auto_resume", "limits",
					      "owner",	  "network",	"env",	       "database",
					      "publish",  NULL };
	memset(out, 0, sizeof(*out));
	if (only_fields(body, fields, err) < 0)
		return -1;
	json_t *t = json_object_get(body, "template");
	const char *name = DEFAULT_TEMPLATE;
	if (t) {
		if (plain_string(t, "template", err) < 0)
			return -1;
		name = json_string_value(t);
	}
	if (!id_valid_template(name))
		return err_set(err, ERR_INVALID, "template must be 1-63 characters of [a-z0-9-]");
	snprintf(out->template_name, sizeof(out->template_name), "%s", name);
	if (get_timeout(body, "timeout_s", default_timeout, 0, max_timeout, &out->timeout_s, err) <
	    0)
		return -1;
	if (get_bool(body, "cold_boot", false, &out->cold_boot, err) < 0 ||
	    get_bool(body, "pools", true, &out->use_pools, err) < 0 ||
	    get_bool(body, "auto_resume", false, &out->auto_resume, err) < 0)
		return -1;
	json_t *ot = json_object_get(body, "on_timeout");
	if (ot && (!json_is_string(ot) || (strcmp(json_string_value(ot), "delete") != 0 &&
					   strcmp(json_string_value(ot), "pause") != 0)))
		return err_set(err, ERR_INVALID, "on_timeout must be \"delete\" or \"pause\"");
	out->timeout_pauses = ot && strcmp(json_string_value(ot), "pause") == 0;
	if (get_limits(json_object_get(body, "limits"), &out->cpu_millis, err) < 0)
		return -1;
	json_t *md = json_object_get(body, "metadata");
	if (md && !json_is_object(md))
		return err_set(err, ERR_INVALID, "metadata must be an object");
	out->metadata = md ? json_dumps(md, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
	if (!out->metadata || strlen(out->metadata) > METADATA_MAX_BYTES) {
		create_req_free(out);
		return err_set(err, ERR_INVALID, "metadata must serialize to at most %d bytes",
			       METADATA_MAX_BYTES);
	}
	if (create_extras(body, out, err) < 0) {
		create_req_free(out);
		return -1;
	}
	return 0;
}

bool valid_env_name(const char *s)
{
	if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return false;
	return n <= 255;
}

static void strv_push(char ***v, size_t *n, char *s)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(char *));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

static int parse_cmd(json_t *cmd, struct exec_params *p, struct thaw_err **err)
{
	size_t n = 0;
	if (json_is_string(cmd)) {
		if (plain_string(cmd, "cmd", err) < 0)
			return -1;
		if (json_string_length(cmd) == 0)
			return err_set(err, ERR_INVALID, "cmd must not be empty");
		strv_push(&p->argv, &n, xstrdup("/bin/sh"));
		strv_push(&p->argv, &n, xstrdup("-c"));
		strv_push(&p->argv, &n, xstrdup(json_string_value(cmd)));
		return 0;
	}
	if (!json_is_array(cmd) || json_array_size(cmd) == 0 ||
	    json_array_size(cmd) > EXEC_MAX_ARGS)
		return err_set(err, ERR_INVALID,
			       "cmd must be a shell string or an array of 1 to %d strings",
			       EXEC_MAX_ARGS);
	size_t i;
	json_t *a;
	json_array_foreach(cmd, i, a)
	{
		if (plain_string(a, "every cmd element", err) < 0)
			return -1;
		strv_push(&p->argv, &n, xstrdup(json_string_value(a)));
	}
	if (p->argv[0][0] == '\0')
		return err_set(err, ERR_INVALID, "cmd[0] must not be empty");
	return 0;
}

static int parse_env(json_t *env, struct exec_params *p, struct thaw_err **err)
{
	size_t n = 0;
	for (size_t i = 0; i < sizeof(base_env) / sizeof(base_env[0]); i++) {
		const char *eq = strchr(base_env[i], '=');
		size_t klen = (size_t)(eq - base_env[i]);
		char key[64];
		snprintf(key, sizeof(key), "%.*s", (int)klen, base_env[i]);
		if (!env || !json_object_get(env, key))
			strv_push(&p->env, &n, xstrdup(base_env[i]));
	}
	p->env_base = n;
	if (!env)
		return 0;
	if (!json_is_object(env))
		return err_set(err, ERR_INVALID, "env must be an object of strings");
	const char *key;
	json_t *v;
	json_object_foreach(env, key, v)
	{
		if (!valid_env_name(key))
			return err_set(err, ERR_INVALID, "env name \"%.64s\" is not valid", key);
		if (plain_string(v, "every env value", err) < 0)
			return -1;
		strv_push(&p->env, &n, xasprintf("%s=%s", key, json_string_value(v)));
	}
	return 0;
}

static int parse_stdin(json_t *body, struct exec_params *p, struct thaw_err **err)
{
	json_t *text = json_object_get(body, "stdin");
	json_t *b64 = json_object_get(body, "stdin_b64");
	if (text && b64)
		return err_set(err, ERR_INVALID, "give stdin or stdin_b64, not both");
	if (text) {
		if (!json_is_string(text))
			return err_set(err, ERR_INVALID, "stdin must be a string");
		buf_append(&p->stdin_data, json_string_value(text), json_string_length(text));
		p->has_stdin = true;
	} else if (b64) {
		if (!json_is_string(b64) ||
		    base64_decode(json_string_value(b64), json_string_length(b64), &p->stdin_data) <
			    0)
			return err_set(err, ERR_INVALID, "stdin_b64 must be standard base64");
		p->has_stdin = true;
	}
	return 0;
}

/* The EXEC frame this request becomes: it must fit one protocol frame
 * (stdin travels separately). */
static size_t frame_size(const struct exec_params *p)
{
	size_t n = 64 + (p->cwd ? strlen(p->cwd) + PROTO_TLV_HDR_SIZE : 0);
	for (size_t i = 0; p->argv && p->argv[i]; i++)
		n += strlen(p->argv[i]) + PROTO_TLV_HDR_SIZE;
	for (size_t i = 0; p->env && p->env[i]; i++)
		n += strlen(p->env[i]) + PROTO_TLV_HDR_SIZE;
	return n;
}

int validate_exec(json_t *body, struct exec_params *p, struct thaw_err **err)
{
	static const char *const fields[] = { "cmd",	   "env",	 "cwd",	     "stdin",
					      "stdin_b64", "timeout_s",	 "encoding", "auto_resume",
					      "stream",	   "background", EXEC_PROCESS_FIELDS, NULL };
	memset(p, 0, sizeof(*p));
	json_t *cwd = json_object_get(body, "cwd");
	json_t *enc = json_object_get(body, "encoding");
	int64_t timeout;
	if (only_fields(body, fields, err) < 0)
		goto fail;
	if (!json_object_get(body, "cmd")) {
		err_set(err, ERR_INVALID, "cmd is required");
		goto fail;
	}
	if (parse_cmd(json_object_get(body, "cmd"), p, err) < 0 ||
	    parse_env(json_object_get(body, "env"), p, err) < 0 || parse_stdin(body, p, err) < 0)
		goto fail;
	if (cwd) {
		if (plain_string(cwd, "cwd", err) < 0)
			goto fail;
		if (json_string_value(cwd)[0] != '/' || json_string_length(cwd) > 4096) {
			err_set(err, ERR_INVALID, "cwd must be an absolute path");
			goto fail;
		}
		p->cwd = xstrdup(json_string_value(cwd));
	}
	if (get_timeout(body, "timeout_s", EXEC_DEFAULT_TIMEOUT_S, 1, EXEC_MAX_TIMEOUT_S, &timeout,
			err) < 0)
		goto fail;
	p->timeout_ms = (uint32_t)(timeout * 1000);
	if (enc && (!json_is_string(enc) || (strcmp(json_string_value(enc), "text") != 0 &&
					     strcmp(json_string_value(enc), "base64") != 0))) {
		err_set(err, ERR_INVALID, "encoding must be \"text\" or \"base64\"");
		goto fail;
	}
	p->base64_output = enc && strcmp(json_string_value(enc), "base64") == 0;
	if (get_bool(body, "auto_resume", false, &p->auto_resume, err) < 0 ||
	    get_bool(body, "stream", false, &p->stream, err) < 0 ||
	    get_bool(body, "background", false, &p->background, err) < 0)
		goto fail;
	if (p->background && (p->stream || p->has_stdin)) {
		err_set(err, ERR_INVALID, "a background command takes neither stream nor stdin");
		goto fail;
	}
	if (validate_exec_process(body, p, err) < 0)
		goto fail;
	if (frame_size(p) > PROTO_MAX_PAYLOAD) {
		err_set(err, ERR_INVALID, "cmd, env and cwd together exceed %u bytes",
			PROTO_MAX_PAYLOAD);
		goto fail;
	}
	return 0;
fail:
	exec_params_free(p);
	return -1;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Whether "K=V" has the name key. */
static bool env_is(const char *entry, const char *key)
{
	size_t n = strlen(key);
	return strncmp(entry, key, n) == 0 && entry[n] == '=';
}

static bool env_has(char *const *v, size_t from, const char *key)
{
	for (size_t i = from; v && v[i]; i++)
		if (env_is(v[i], key))
			return true;
	return false;
}

int exec_params_add_sandbox_env(struct exec_params *p, json_t *sandbox_env, struct thaw_err **err)
{
	char **out = NULL;
	size_t n = 0;
	for (size_t i = 0; i < p->env_base && p->env[i]; i++) {
		char key[64];
		snprintf(key, sizeof(key), "%.*s", (int)strcspn(p->env[i], "="), p->env[i]);
		if (!sandbox_env || !json_object_get(sandbox_env, key))
			strv_push(&out, &n, xstrdup(p->env[i]));
	}
	const char *key;
	json_t *v;
	json_object_foreach(sandbox_env, key, v)
	{
		if (json_is_string(v) && !env_has(p->env, p->env_base, key))
			strv_push(&out, &n, xasprintf("%s=%s", key, json_string_value(v)));
	}
	size_t base = n;
	for (size_t i = p->env_base; p->env && p->env[i]; i++)
		strv_push(&out, &n, xstrdup(p->env[i]));
	strv_free(p->env);
	p->env = out;
	p->env_base = base;
	if (frame_size(p) > PROTO_MAX_PAYLOAD)
		return err_set(err, ERR_INVALID,
			       "cmd, env (with the sandbox's) and cwd together exceed %u bytes",
			       PROTO_MAX_PAYLOAD);
	return 0;
}

char **exec_env_default(json_t *sandbox_env)
{
	struct exec_params p;
	memset(&p, 0, sizeof(p));
	parse_env(NULL, &p, NULL);
	exec_params_add_sandbox_env(&p, sandbox_env, NULL);
	return p.env;
}

void exec_env_free(char **env)
{
	strv_free(env);
}

void exec_params_free(struct exec_params *p)
{
	strv_free(p->argv);
	strv_free(p->env);
	free(p->cwd);
	free(p->tag);
	free(p->user);
	buf_free(&p->stdin_data);
	memset(p, 0, sizeof(*p));
}

int validate_bake(json_t *body, struct bake_params *out, struct thaw_err **err)
{
	static const char *const fields[] = { "name", NULL };
	if (only_fields(body, fields, err) < 0)
		return -1;
	json_t *n = json_object_get(body, "name");
	if (!n)
		return err_set(err, ERR_INVALID, "name is required");
	if (plain_string(n, "name", err) < 0)
		return -1;
	if (!id_valid_template(json_string_value(n)))
		return err_set(err, ERR_INVALID, "name must be 1-63 characters of [a-z0-9-]");
	snprintf(out->name, sizeof(out->name), "%s", json_string_value(n));
	return 0;
}

int validate_failpoint(json_t *body, struct failpoint_params *out, struct thaw_err **err)
{
	static const char *const fields[] = { "name", "action", NULL };
	if (only_fields(body, fields, err) < 0)
		return -1;
	json_t *n = json_object_get(body, "name"), *a = json_object_get(body, "action");
	if (!n || !a)
		return err_set(err, ERR_INVALID, "name and action are required");
	if (plain_string(n, "name", err) < 0 || plain_string(a, "action", err) < 0)
		return -1;
	if (json_string_length(n) >= sizeof(out->name) ||
	    json_string_length(a) >= sizeof(out->action))
		return err_set(err, ERR_INVALID, "no such failpoint or action");
	snprintf(out->name, sizeof(out->name), "%s", json_string_value(n));
	snprintf(out->action, sizeof(out->action), "%s", json_string_value(a));
	return 0;
}

int validate_fork(json_t *body, struct fork_params *out, struct thaw_err **err)
{
	static const char *const fields[] = { "count", NULL };
	int64_t count;
	if (only_fields(body, fields, err) < 0 ||
	    get_timeout(body, "count", 1, 1, FORK_MAX_COUNT, &count, err) < 0)
		return -1;
	out->count = (size_t)count;
	return 0;
}

int validate_snapshot(json_t *body, struct snapshot_params *out, struct thaw_err **err)
{
	static const char *const fields[] = { "template", NULL };
	if (only_fields(body, fields, err) < 0)
		return -1;
	json_t *n = json_object_get(body, "template");
	if (!n)
		return err_set(err, ERR_INVALID, "template (the new template's name) is required");
	if (plain_string(n, "template", err) < 0)
		return -1;
	if (!id_valid_template(json_string_value(n)))
		return err_set(err, ERR_INVALID, "template must be 1-63 characters of [a-z0-9-]");
	snprintf(out->name, sizeof(out->name), "%s", json_string_value(n));
	return 0;
}

int validate_keepalive(json_t *body, int64_t max_timeout, int64_t *timeout_s, struct thaw_err **err)
{
	static const char *const fields[] = { "timeout_s", NULL };
	if (only_fields(body, fields, err) < 0)
		return -1;
	if (!json_object_get(body, "timeout_s"))
		return err_set(err, ERR_INVALID, "timeout_s is required");
	return get_timeout(body, "timeout_s", 0, 0, max_timeout, timeout_s, err);
}

int validate_empty(json_t *body, struct thaw_err **err)
{
	static const char *const fields[] = { NULL };
	return only_fields(body, fields, err);
}

int port_from_text(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	return (*end || end == s || s[0] == '+' || s[0] == '-' || v < 1 || v > 65535) ? -1 : (int)v;
}
