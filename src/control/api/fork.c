/* Fork through the control plane. The children are placed like creates
 * (the forking key's cap counted exactly across instances) and may land
 * on hosts other than their parent's: by default on the parent's host
 * while it has room, with "spread": true on the others first. When all
 * of them are on the parent's host, its own fork makes them (one capture,
 * restored from the local image). Otherwise the parent's host exports the
 * image to the object store once and every host starts its children from
 * that one image (the parent's host from its local copy), all at once:
 * every child is a copy of the same instant. All or nothing, as on a
 * host: when a child fails, those made are deleted. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "control/api/api.h"
#include "control/sandboxes.h"
#include "httpapi/keys.h"
#include "ids.h"
#include "log.h"
#include "timeutil.h"

/* thawd's bound on one fork (src/thawd/api/validate.h). */
#define FORK_MAX 16

struct child {
	struct placement pl;
	bool placed;
	char id[SANDBOX_ID_LEN + 1];
	json_t *made; /* the host's JSON of it; NULL until made */
	struct thaw_err *err;
	pthread_t thread;
};

/* What every remote child needs: the image and its parent's settings. */
struct remote_start {
	const struct api_req *r;
	const char *parent, *image, *owner;
	json_t *settings; /* {"timeout_s", "metadata", "network", "env"} of the parent */
	struct child *c;
};

static void *start_remote(void *arg)
{
	struct remote_start *rs = arg;
	/* The fork's request: its adopt calls forward the id (relay.c). */
	log_set_request_id(rs->r->request_id);
	struct child *c = rs->c;
	json_t *body = json_pack("{s:s,s:s,s:s,s:O,s:O,s:O,s:O}", "image", rs->image, "parent",
				 rs->parent, "owner", rs->owner, "timeout_s",
				 json_object_get(rs->settings, "timeout_s"), "metadata",
				 json_object_get(rs->settings, "metadata"), "network",
				 json_object_get(rs->settings, "network"), "env",
				 json_object_get(rs->settings, "env"));
	_cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	_cleanup_free_ char *path = xasprintf("/v1/sandboxes/%s/adopt", c->id);
	struct relay_target t = control_target(rs->r, c->pl.host, c->pl.address, path);
	t.on_behalf_of = NULL; /* adopt is an admin's: the owner is in the body */
	_cleanup_buf_ struct buf out = { 0 };
	long st = relay_call(&t, "POST", text, strlen(text), &out, &c->err);
	if (st == 201)
		c->made = json_loadb((const char *)out.data, out.len, 0, NULL);
	if (!c->made && !c->err)
		err_set(&c->err, ERR_UNAVAILABLE, "host %s answered %ld to a fork child: %.300s",
			c->pl.host, st, out.data ? (const char *)out.data : "");
	free(rs);
	return NULL;
}

/* One call to the parent's host; its JSON answer (status 2xx) or NULL
 * with *err set. */
static json_t *call_host(const struct api_req *r, const struct sandbox_route *rt,
			 const char *method, const char *path, const char *body, bool as_admin,
			 struct thaw_err **err)
{
	struct relay_target t = control_target(r, rt->host, rt->address, path);
	if (as_admin)
		t.on_behalf_of = NULL;
	_cleanup_buf_ struct buf out = { 0 };
	long st = relay_call(&t, method, body, body ? strlen(body) : 0, &out, err);
	json_t *o = st >= 200 && st < 300 ? json_loadb((const char *)out.data, out.len, 0, NULL)
					  : NULL;
	if (!o && err && !*err) {
		json_t *e = json_loadb(out.data ? (const char *)out.data : "", out.len, 0, NULL);
		const char *msg = json_string_value(json_object_get(e, "error"));
		err_set(err,
			st == 404   ? ERR_NOT_FOUND
			: st == 409 ? ERR_CONFLICT
			: st == 429 ? ERR_LIMIT
				    : ERR_UNAVAILABLE,
			"host %s answered %ld: %s", rt->host, st, msg ? msg : "(no message)");
		json_decref(e);
	}
	return o;
}

static int parse_body(struct api_req *r, unsigned *count, bool *spread, enum MHD_Result *res)
{
	json_t *body = r->body_len ? api_body_object(r, res) : json_object();
	if (!body)
		return -1;
	json_int_t n = 1;
	int sp = 0;
	json_error_t jerr;
	int rc = json_unpack_ex(body, &jerr, JSON_STRICT, "{s?I,s?b}", "count", &n, "spread", &sp);
	json_decref(body);
	if (rc < 0 || n < 1 || n > FORK_MAX) {
		*res = api_reply_fail(r, ERR_INVALID,
				      "body: {\"count\": 1-%d, \"spread\": bool} expected", FORK_MAX);
		return -1;
	}
	*count = (unsigned)n;
	*spread = sp;
	return 0;
}

/* Children on the parent's host: its own fork makes them. */
static int fork_local(struct api_req *r, const struct sandbox_route *rt, struct child *c,
		      unsigned n, struct thaw_err **err)
{
	char body[32];
	snprintf(body, sizeof(body), "{\"count\":%u}", n);
	_cleanup_free_ char *path = xasprintf("/v1/sandboxes/%s/fork", r->params[0]);
	json_t *o = call_host(r, rt, "POST", path, body, false, err);
	json_t *kids = json_object_get(o, "sandboxes");
	if (!o || json_array_size(kids) != n) {
		json_decref(o);
		return o ? err_set(err, ERR_GUEST, "host %s forked the wrong number of children",
				   rt->host)
			 : -1;
	}
	for (unsigned i = 0; i < n; i++) {
		c[i].made = json_incref(json_array_get(kids, i));
		const char *id = json_string_value(json_object_get(c[i].made, "id"));
		if (!id || !id_valid_sandbox(id)) {
			json_decref(o);
			return err_set(err, ERR_GUEST, "host %s answered a child without an id",
				       rt->host);
		}
		snprintf(c[i].id, sizeof(c[i].id), "%s", id);
	}
	json_decref(o);
	return 0;
}

/* What a child takes from its parent's answer: its timeout, metadata,
 * environment and network policy (the policy's fields only: slot and
 * netns are the parent's host's). The child's host checks them again. */
static json_t *child_settings(json_t *parent)
{
	json_t *timeout = json_object_get(parent, "timeout_s");
	json_t *metadata = json_object_get(parent, "metadata");
	json_t *env = json_object_get(parent, "env");
	json_t *net = json_object_get(parent, "network");
	json_t *policy = json_object();
	static const char *const fields[] = { "internet", "allow", "deny" };
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (json_object_get(net, fields[i]))
			json_object_set(policy, fields[i], json_object_get(net, fields[i]));
	return json_pack("{s:I,s:o,s:o,s:o}", "timeout_s",
			 json_is_integer(timeout) ? json_integer_value(timeout) : 0, "metadata",
			 json_is_object(metadata) ? json_incref(metadata) : json_object(), "env",
			 json_is_object(env) ? json_incref(env) : json_object(), "network", policy);
}

/* Children on any hosts: the image goes to the object store once, then
 * every target starts its children from it at the same time. */
static int fork_remote(struct api_req *r, const struct sandbox_route *rt, const char *owner,
		       struct child *c, unsigned n, double *export_ms, json_t **export_detail,
		       struct thaw_err **err)
{
	_cleanup_free_ char *path = xasprintf("/v1/sandboxes/%s", r->params[0]);
	json_t *parent = call_host(r, rt, "GET", path, NULL, false, err);
	if (!parent)
		return -1;
	json_t *settings = child_settings(parent);
	json_decref(parent);
	uint64_t t0 = time_mono_ns();
	_cleanup_free_ char *epath = xasprintf("/v1/sandboxes/%s/export", r->params[0]);
	json_t *ex = call_host(r, rt, "POST", epath, "{}", true, err);
	*export_ms = ns_to_ms(time_mono_ns() - t0);
	const char *image = json_string_value(json_object_get(ex, "image"));
	json_t *detail = json_object_get(ex, "timings_ms");
	if (json_is_object(detail))
		*export_detail = json_incref(detail);
	if (!image || !id_valid_build(image)) {
		json_decref(ex);
		json_decref(settings);
		return ex ? err_set(err, ERR_GUEST, "host %s exported no image", rt->host) : -1;
	}
	for (unsigned i = 0; i < n; i++) {
		struct remote_start *rs = xcalloc(1, sizeof(*rs));
		*rs = (struct remote_start){ r, r->params[0], image, owner, settings, &c[i] };
		id_new_sandbox(c[i].id);
		if (pthread_create(&c[i].thread, NULL, start_remote, rs) != 0) {
			c[i].thread = 0;
			start_remote(rs);
		}
	}
	int rc = 0;
	for (unsigned i = 0; i < n; i++) {
		if (c[i].thread)
			pthread_join(c[i].thread, NULL);
		if (!c[i].made && rc == 0) {
			rc = -1;
			if (err && !*err) {
				*err = c[i].err;
				c[i].err = NULL;
			}
		}
	}
	log_info("control.exported", "parent=%s host=%s image=%s ms=%.1f", r->params[0], rt->host,
		 image, *export_ms);
	json_decref(ex);
	json_decref(settings);
	return rc;
}

/* What was made of a fork that failed goes: no partial fork is left. */
static void undo(struct api_req *r, struct child *c, unsigned n)
{
	struct control *ctl = api_control(r);
	for (unsigned i = 0; i < n; i++) {
		if (c[i].made) {
			_cleanup_free_ char *path = xasprintf("/v1/sandboxes/%s", c[i].id);
			struct relay_target t = control_target(r, c[i].pl.host, c[i].pl.address, path);
			t.on_behalf_of = NULL;
			_cleanup_buf_ struct buf ignored = { 0 };
			relay_call(&t, "DELETE", NULL, 0, &ignored, NULL);
		}
		if (c[i].placed)
			sandbox_unplace(ctl->pg, &c[i].pl);
	}
}

static void children_free(struct child *c, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		json_decref(c[i].made);
		err_free(c[i].err);
	}
	free(c);
}

enum MHD_Result control_sandbox_fork(struct api_req *r)
{
	struct control *ctl = api_control(r);
	enum MHD_Result res;
	struct sandbox_route rt;
	if (!control_sandbox_live(r, &rt, &res))
		return res;
	unsigned count;
	bool spread;
	if (parse_body(r, &count, &spread, &res) < 0)
		return res;
	if (strcmp(rt.state, "running") != 0 || strcmp(rt.host_state, "up") != 0)
		return api_reply_fail(r, ERR_CONFLICT, "sandbox %s is %s (its host %s is %s)",
				      r->params[0], rt.state, rt.host, rt.host_state);
	/* Children belong to the forking key, within its cap. */
	const char *owner = r->key->name;
	uint64_t t0 = time_mono_ns();
	struct child *c = xcalloc(count, sizeof(*c));
	_cleanup_err_ struct thaw_err *err = NULL;
	struct place_hint hint = { .near = rt.host, .spread = spread };
	for (unsigned i = 0; i < count; i++) {
		if (sandbox_place(ctl->pg, owner, r->key->max_sandboxes, rt.tmpl, NULL, &hint,
				  &c[i].pl, &err) < 0) {
			undo(r, c, count);
			children_free(c, count);
			return api_reply_error(r, err);
		}
		c[i].placed = true;
	}
	unsigned local = 0;
	for (unsigned i = 0; i < count; i++)
		local += strcmp(c[i].pl.host, rt.host) == 0;
	uint64_t t1 = time_mono_ns();
	double export_ms = 0;
	json_t *export_detail = NULL;
	int rc = local == count ? fork_local(r, &rt, c, count, &err)
				: fork_remote(r, &rt, owner, c, count, &export_ms, &export_detail, &err);
	double work_ms = ns_to_ms(time_mono_ns() - t1);
	for (unsigned i = 0; rc == 0 && i < count; i++) {
		const char *st = json_string_value(json_object_get(c[i].made, "state"));
		rc = sandbox_placed(ctl->pg, &c[i].pl, c[i].id, owner, rt.tmpl,
				    st && !strcmp(st, "paused") ? "paused" : "running", NULL, &err);
		if (rc == 0)
			c[i].placed = false; /* the row holds its place now */
	}
	if (rc < 0) {
		for (unsigned i = 0; i < count; i++)
			if (!c[i].placed && c[i].made) /* recorded already: forget it */
				sandbox_forget(ctl->pg, c[i].id, NULL);
		undo(r, c, count);
		children_free(c, count);
		json_decref(export_detail);
		return api_reply_error(r, err);
	}
	json_t *kids = json_array();
	for (unsigned i = 0; i < count; i++) {
		json_object_set_new(c[i].made, "host", json_string(c[i].pl.host));
		json_array_append(kids, c[i].made);
	}
	log_info("control.forked", "parent=%s host=%s local=%u remote=%u", r->params[0], rt.host,
		 local, count - local);
	children_free(c, count);
	bool exported = local < count;
	json_t *timings = json_pack("{s:f,s:f,s:f,s:f,s:f}", "placement", ns_to_ms(t1 - t0),
				    "local_fork", exported ? 0.0 : work_ms, "export", export_ms,
				    "remote_children", exported ? work_ms - export_ms : 0.0, "total",
				    ns_to_ms(time_mono_ns() - t0));
	if (export_detail) /* the parent's host's own: stopped, capture, upload */
		json_object_set_new(timings, "export_parts", export_detail);
	return api_reply_json(r, MHD_HTTP_CREATED,
			      json_pack("{s:s,s:o,s:o}", "parent", r->params[0], "sandboxes", kids,
					"timings_ms", timings));
}
