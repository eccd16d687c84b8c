/* /v1/sandboxes handlers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "ops/publish.h"
#include "httpapi/keys.h"
#include "core/idempotency.h"
#include "core/registry.h"
#include "api/validate.h"
#include "core/registry.h"
#include "remote/remote.h"
#include "core/sandbox.h"
#include "guestnet.h"
#include "net/netpolicy.h"
#include "net/slot.h"
#include "ops/measure.h"
#include "ops/ops.h"
#include "timeutil.h"
#include "utf8.h"

static json_t *time_or_null(int64_t secs)
{
	if (!secs)
		return json_null();
	char s[32];
	time_format_rfc3339(secs, s);
	return json_string(s);
}

static json_t *parse_or_null(const char *text)
{
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;
	return v ? v : json_null();
}

/* Its egress policy (internet, allow, deny: net/netpolicy.h) and, while
 * it has a slot, where it lives on the host: `ip netns exec NETNS ...`
 * works. */
static json_t *network_json(struct sandbox *sb, bool has_slot)
{
	struct netpolicy *p = sandbox_netpolicy(sb);
	json_t *o = netpolicy_to_json(p);
	netpolicy_free(p);
	if (has_slot) {
		json_object_set_new(o, "slot", json_integer((json_int_t)sb->slot->index));
		json_object_set_new(o, "netns", json_string(sb->slot->name));
		json_object_set_new(o, "guest_ip", json_string(GUESTNET_GUEST_IP));
	}
	return o;
}

/* Its disk (clone or image) and its VMM's cgroup; null where unknown. */
static void usage_json(struct host *h, struct sandbox *sb, enum sb_state state, json_t *o)
{
	struct sandbox_measures u;
	sandbox_measure(h, sb, state, &u);
	json_object_set_new(o, "disk",
			    !u.has_disk ? json_null()
					: json_pack("{s:I,s:I,s:I}", "apparent_bytes",
						    (json_int_t)u.disk.apparent, "allocated_bytes",
						    (json_int_t)u.disk.allocated, "exclusive_bytes",
						    (json_int_t)u.disk.exclusive));
	json_object_set_new(o, "resources",
			    !u.has_resources
				    ? json_null()
				    : json_pack("{s:I,s:I,s:f,s:I}", "memory_limit_bytes",
						(json_int_t)u.limits.memory_bytes,
						"memory_used_bytes", (json_int_t)u.memory_used,
						"cpus", u.limits.cpu_millis / 1000.0, "max_threads",
						(json_int_t)u.limits.pids));
}

json_t *api_sandbox_json(struct host *h, struct sandbox *sb, bool detail)
{
	pthread_mutex_lock(&sb->lock);
	enum sb_state state = sb->state;
	int64_t timeout_at = sb->timeout_at, timeout_s = sb->timeout_s, paused_at = sb->paused_at;
	json_t *reason = sb->reason ? json_string(sb->reason) : NULL;
	pthread_mutex_unlock(&sb->lock);
	int64_t now = (int64_t)(time_real_ns() / 1000000000ull);
	json_t *o = json_pack(
		"{s:s,s:s,s:s,s:s,s:s,s:o,s:I,s:o,s:I,s:s,s:b,s:o,s:o,s:o,s:o}", "id", sb->id,
		"owner", sb->owner, "template", sb->template_name, "build_id", sb->build_id,
		"state", sb_state_name(state), "created_at", time_or_null(sb->created_at), "age_s",
		(json_int_t)(now > sb->created_at ? now - sb->created_at : 0), "timeout_at",
		time_or_null(timeout_at), "timeout_s", (json_int_t)timeout_s, "on_timeout",
		sb->timeout_pauses ? "pause" : "delete", "auto_resume", sb->auto_resume, "parent",
		sb->parent[0] ? json_string(sb->parent) : json_null(), "paused_at",
		time_or_null(paused_at), "metadata", parse_or_null(sb->metadata), "timings_ms",
		parse_or_null(sb->timings));
	if (reason)
		json_object_set_new(o, "reason", reason);
	json_object_set_new(o, "network", network_json(sb, sb->slot && state != SB_PAUSED));
	json_object_set_new(o, "env", sb->env ? parse_or_null(sb->env) : json_object());
	/* A paused sandbox's image, and whether other hosts can resume it
	 * (its upload to the object store has finished). */
	char image[sizeof(sb->image)];
	pthread_mutex_lock(&sb->lock);
	snprintf(image, sizeof(image), "%s", sb->image);
	pthread_mutex_unlock(&sb->lock);
	if (state == SB_PAUSED && image[0])
		json_object_set_new(o, "image",
				    json_pack("{s:s,s:b}", "id", image, "in_object_store",
					      remote_image_published(h, image)));
	json_object_set_new(
		o, "limits",
		json_pack("{s:o}", "cpus",
			  sb->cpu_millis ? json_real(sb->cpu_millis / 1000.0) : json_null()));
	/* issue 17, pg: the database a client connects to, for sandboxes of
	 * a template that has one (its recipe's database_* keys); the
	 * password only in the create and fork answers (api_sandbox_secrets). */
	struct sb_database db;
	if (sandbox_database(h, sb->template_name, &db) && db.port)
		json_object_set_new(o, "database",
				    json_pack("{s:s,s:s,s:i}", "user", db.user, "dbname", db.dbname,
					      "port", (int)db.port));
	/* Issue 17, tcp part: raw TCP relays open to it now (ops/tunnel.c). */
	pthread_mutex_lock(&sb->lock);
	int tunnels = sb->open_tunnels;
	pthread_mutex_unlock(&sb->lock);
	json_object_set_new(o, "open_tunnels", json_integer(tunnels));
	json_object_set_new(o, "published_ports", sandbox_published_json(h, sb->id));
	if (detail)
		usage_json(h, sb, state, o);
	return o;
}

void api_sandbox_secrets(json_t *o, struct sandbox *sb)
{
	char *pw = sandbox_take_db_password(sb);
	json_t *db = json_object_get(o, "database");
	if (pw && json_is_object(db))
		json_object_set_new(db, "password", json_string(pw));
	if (pw)
		explicit_bzero(pw, strlen(pw));
	free(pw);
}

bool api_key_sees(const struct api_req *r, const struct sandbox *sb)
{
	return r->key && (r->key->role == KEY_ADMIN || strcmp(sb->owner, r->key->name) == 0);
}

bool api_sandbox_access(struct api_req *r, enum MHD_Result *res)
{
	if (!api_check_sandbox_id(r, res))
		return false;
	/* An id's owner never changes (incarnations keep it), so what is
	 * checked here holds for the operation that follows. A sandbox that
	 * does not exist gets the same 404 here, before the route checks the
	 * rest of its input: a 400 for a missing one next to a 404 for
	 * another key's would tell which ids exist. */
	struct sandbox *sb = registry_get(api_host(r), r->params[0]);
	bool sees = sb && api_key_sees(r, sb);
	sandbox_unref(api_host(r), sb);
	if (!sees)
		*res = api_reply_fail(r, ERR_NOT_FOUND, "sandbox %s does not exist", r->params[0]);
	return sees;
}

struct sb_owner api_owner(const struct api_req *r)
{
	return (struct sb_owner){ .name = r->key->name,
				  .max_sandboxes = r->key->max_sandboxes,
				  .admin = r->key->role == KEY_ADMIN };
}

bool api_check_sandbox_id(struct api_req *r, enum MHD_Result *res)
{
	if (id_valid_sandbox(r->params[0]))
		return true;
	*res = api_reply_fail(r, ERR_INVALID,
			      "\"%.64s\" is not a sandbox id (sb- and 12 characters)",
			      r->params[0]);
	return false;
}

json_t *api_sandbox_body(struct api_req *r, bool empty_ok, enum MHD_Result *res)
{
	if (!api_check_sandbox_id(r, res))
		return NULL;
	return empty_ok && !r->body_len ? json_object() : api_body_object(r, res);
}

/* A create under an Idempotency-Key: the sandbox an earlier request with
 * the key made (while it exists), else a new one; a request with the key
 * in flight is waited for. */
#define IDEM_WAIT_MS 300000
static int create_once(struct api_req *r, struct create_req *req, const char *key,
		       struct sandbox **out, struct thaw_err **err)
{
	struct host *h = api_host(r);
	const char *owner = req->owner.name ? req->owner.name : KEY_NAME_DEFAULT;
	if (!id_valid_idem_key(key))
		return err_set(err, ERR_INVALID,
			       "Idempotency-Key must be 1-%d of [A-Za-z0-9._:-]", IDEM_KEY_MAX);
	char id[SANDBOX_ID_LEN + 1];
	for (int round = 0; round < 2; round++) {
		int got = idem_begin(h->idem, owner, key, IDEM_WAIT_MS, id);
		if (got < 0)
			return err_set(err, ERR_TIMEOUT, "a create with this Idempotency-Key is still "
							 "running");
		if (got == 1) {
			*out = registry_get(h, id);
			if (*out)
				return 0;
			idem_forget(h->idem, owner, key); /* deleted since: a new one */
			continue;
		}
		req->idem_key = key;
		int rc = sandbox_create(h, req, out, err);
		idem_end(h->idem, owner, key, rc == 0 ? (*out)->id : NULL);
		return rc;
	}
	return err_set(err, ERR_CONFLICT, "the Idempotency-Key's sandbox keeps going away");
}

/* Issue 17 (tcp): the create's "publish" ports; a failure deletes the
 * new sandbox (a create either gives all it asked for or nothing). */
static int publish_at_create(struct api_req *r, struct sandbox *sb, const int *ports, int n,
			     struct thaw_err **err)
{
	for (int i = 0; i < n; i++) {
		struct published_port p;
		bool existed;
		if (sandbox_publish(api_host(r), sb->id, ports[i], &p, &existed, err) < 0) {
			sandbox_delete(api_host(r), sb->id, NULL);
			return err_wrap(err, "creating sandbox %s", sb->id);
		}
	}
	return 0;
}

enum MHD_Result api_sandbox_create(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = r->body_len ? api_body_object(r, &res) : json_object();
	if (!body)
		return res;
	struct create_req req;
	_cleanup_err_ struct thaw_err *err = NULL;
	const struct thawd_config *cfg = api_host(r)->cfg;
	/* An admin key (the fleet's control plane) creates on a tenant's
	 * behalf: the sandbox is that key's, within this host's cap (the
	 * tenant's own cap is the control plane's to keep). */
	json_t *for_owner = json_object_get(body, "owner");
	char owner[KEY_NAME_MAX + 1] = "";
	if (for_owner && (!json_is_string(for_owner) ||
			  !id_valid_key_name(json_string_value(for_owner)))) {
		json_decref(body);
		return api_reply_fail(r, ERR_INVALID, "owner must be an API key name");
	}
	if (for_owner && r->key->role != KEY_ADMIN) {
		json_decref(body);
		return api_reply_fail(r, ERR_FORBIDDEN, "only admin keys create for another owner");
	}
	if (for_owner)
		snprintf(owner, sizeof(owner), "%s", json_string_value(for_owner));
	int rc = validate_create(body, cfg->default_timeout_s, cfg->max_timeout_s, &req, &err);
	json_decref(body);
	if (rc < 0)
		return api_reply_error(r, err);
	/* Issue 17 (tcp): refused before anything runs. */
	if (req.n_publish && !cfg->publish_addr) {
		create_req_free(&req);
		return api_reply_fail(
			r, ERR_CONFLICT,
			"this host publishes no ports: thawd runs without --publish-range");
	}
	int publish[CREATE_MAX_PUBLISH], n_publish = req.n_publish;
	memcpy(publish, req.publish, sizeof(publish));
	if (!req.has_publish)
		n_publish = publish_recipe_default(api_host(r), req.template_name, publish);
	req.owner = api_owner(r);
	if (owner[0])
		req.owner = (struct sb_owner){ .name = owner };
	const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Idempotency-Key");
	struct sandbox *sb = NULL;
	if (key) {
		rc = create_once(r, &req, key, &sb, &err);
		create_req_free(&req);
		if (rc < 0)
			return api_reply_error(r, err);
	} else {
		rc = sandbox_create(api_host(r), &req, &sb, &err);
		create_req_free(&req);
		if (rc < 0)
			return api_reply_error(r, err);
	}
	if (publish_at_create(r, sb, publish, n_publish, &err) < 0) {
		sandbox_unref(api_host(r), sb);
		return api_reply_error(r, err);
	}
	json_t *o = api_sandbox_json(api_host(r), sb, false);
	api_sandbox_secrets(o, sb);
	sandbox_unref(api_host(r), sb);
	return api_reply_json(r, MHD_HTTP_CREATED, o);
}

enum MHD_Result api_sandbox_get(struct api_req *r)
{
	enum MHD_Result res;
	if (!api_check_sandbox_id(r, &res))
		return res;
	struct sandbox *sb = registry_get(api_host(r), r->params[0]);
	if (!sb)
		return api_reply_fail(r, ERR_NOT_FOUND, "sandbox %s does not exist", r->params[0]);
	json_t *o = api_sandbox_json(api_host(r), sb, true);
	sandbox_unref(api_host(r), sb);
	return api_reply_json(r, MHD_HTTP_OK, o);
}

enum MHD_Result api_sandbox_delete(struct api_req *r)
{
	enum MHD_Result res;
	if (!api_check_sandbox_id(r, &res))
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_delete(api_host(r), r->params[0], &err) < 0)
		return api_reply_error(r, err);
	return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
}

static json_t *output_json(const struct buf *b, bool base64)
{
	struct buf out = { 0 };
	if (base64)
		base64_encode(b->data, b->len, &out);
	else
		utf8_sanitize(b->data, b->len, &out);
	json_t *s = json_stringn(out.len ? (const char *)out.data : "", out.len);
	buf_free(&out);
	return s;
}

static json_t *exec_json(const struct agent_exec_result *res, bool base64)
{
	json_t *o = json_pack("{s:i,s:o,s:o,s:b,s:f,s:s}", "exit_code", res->exit_code, "stdout",
			      output_json(&res->out, base64), "stderr",
			      output_json(&res->err, base64), "timed_out", res->timed_out,
			      "duration_ms", (double)res->duration_us / 1000.0, "encoding",
			      base64 ? "base64" : "text");
	if (res->signal)
		json_object_set_new(o, "signal", json_integer(res->signal));
	if (res->out_truncated)
		json_object_set_new(o, "stdout_truncated", json_true());
	if (res->err_truncated)
		json_object_set_new(o, "stderr_truncated", json_true());
	return o;
}

struct agent_exec_req exec_request(const struct exec_params *p)
{
	return (struct agent_exec_req){
		.argv = (const char *const *)p->argv,
		.env = (const char *const *)p->env,
		.cwd = p->cwd,
		.stdin_data = p->stdin_data.data,
		.stdin_len = p->stdin_data.len,
		.has_stdin = p->has_stdin,
		.stdin_keep_open = p->stdin_open,
		.timeout_ms = p->timeout_ms,
		.tag = p->tag,
		.user = p->user,
		.kill_on_disconnect = p->kill_on_disconnect,
		.pty = p->pty,
		.rows = p->rows,
		.cols = p->cols,
	};
}

static void keep_pid(uint32_t pid, void *ud)
{
	*(uint32_t *)ud = pid;
}

enum MHD_Result api_sandbox_exec(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_sandbox_body(r, false, &res);
	if (!body)
		return res;
	struct exec_params p;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = validate_exec(body, &p, &err);
	json_decref(body);
	if (rc < 0)
		return api_reply_error(r, err);
	/* The sandbox's environment under the request's own, for every kind
	 * of exec below. */
	json_t *sbenv = NULL;
	rc = sandbox_env_get(api_host(r), r->params[0], &sbenv, &err);
	if (rc == 0)
		rc = exec_params_add_sandbox_env(&p, sbenv, &err);
	json_decref(sbenv);
	if (rc < 0) {
		exec_params_free(&p);
		return api_reply_error(r, err);
	}
	if (p.stream)
		return api_exec_stream(r, &p);
	if (p.background)
		return api_exec_background(r, &p);
	struct agent_exec_req req = exec_request(&p);
	uint32_t pid = 0;
	req.max_output = (size_t)api_host(r)->cfg->max_exec_output_mb << 20;
	req.on_start = keep_pid;
	req.ud = &pid;
	struct agent_exec_result out;
	rc = sandbox_exec(api_host(r), r->params[0], &req, p.auto_resume, &out, &err);
	bool base64 = p.base64_output;
	exec_params_free(&p);
	if (rc < 0)
		return api_reply_error(r, err);
	json_t *o = exec_json(&out, base64);
	if (pid)
		json_object_set_new(o, "pid", json_integer(pid));
	agent_exec_result_free(&out);
	return api_reply_json(r, MHD_HTTP_OK, o);
}
