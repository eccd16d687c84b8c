/* The /v1 sandbox API through the control plane: a create is placed on a
 * host and recorded; every later request is sent to the sandbox's host
 * (the owner checked here: a user key reaches its own sandboxes only)
 * and its answer relayed back as it comes. */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "control/api/api.h"
#include "control/relay.h"
#include "control/sandboxes.h"
#include "httpapi/keys.h"
#include "ids.h"
#include "log.h"
#include "timeutil.h"

static bool is_admin(const struct api_req *r)
{
	return r->key->role == KEY_ADMIN;
}

/* How the control plane reaches a host for this request: its own admin
 * key, acting for the caller unless the caller is an admin (the host
 * then applies the user's visibility itself). */
struct relay_target control_target(const struct api_req *r, const char *host, const char *address,
				   const char *path_query)
{
	struct relay_target t = { .address = address,
				  .path_query = path_query,
				  .on_behalf_of = is_admin(r) ? NULL : r->key->name };
	host_key_derive(api_control(r)->fleet_secret, host, t.credential);
	return t;
}

/* The sandbox's route when the key may use it; else replies 404 (another
 * key's sandbox is not revealed) and returns false. */
static bool route_of(struct api_req *r, struct sandbox_route *rt, enum MHD_Result *res)
{
	_cleanup_err_ struct thaw_err *err = NULL;
	if (!id_valid_sandbox(r->params[0])) {
		*res = api_reply_fail(r, ERR_INVALID,
				      "\"%.64s\" is not a sandbox id (sb- and 12 characters)",
				      r->params[0]);
		return false;
	}
	if (sandbox_find(api_control(r)->pg, r->params[0], rt, &err) < 0 ||
	    (!is_admin(r) && strcmp(rt->owner, r->key->name) != 0)) {
		*res = err && err->code != ERR_NOT_FOUND
			       ? api_reply_error(r, err)
			       : api_reply_fail(r, ERR_NOT_FOUND, "sandbox %s does not exist",
						r->params[0]);
		return false;
	}
	return true;
}

static json_t *lost_json(const char *id, const struct sandbox_route *rt)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", id, "state", "lost", "host", rt->host,
			 "owner", rt->owner, "reason", rt->reason);
}

/* A host's JSON answer passed on with "host" added (objects only). */
enum MHD_Result control_pass_json(struct api_req *r, long status, struct buf *b, const char *host)
{
	json_t *o = json_loadb(b->data ? (const char *)b->data : "", b->len, 0, NULL);
	if (!o && status == MHD_HTTP_NO_CONTENT)
		return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
	if (!o)
		return api_reply_fail(r, ERR_GUEST, "host %s answered %ld without JSON", host,
				      status);
	if (json_is_object(o) && status < 300)
		json_object_set_new(o, "host", json_string(host));
	return api_reply_json(r, (unsigned)status, o);
}

/* The sandbox a create under an Idempotency-Key made, answered as the
 * create was (what its host says of it now). false when its host does
 * not answer. */
static bool answer_made(struct api_req *r, const char *id, enum MHD_Result *res)
{
	struct control *ctl = api_control(r);
	struct sandbox_route rt;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_find(ctl->pg, id, &rt, &err) < 0 || !strcmp(rt.state, "lost"))
		return false;
	_cleanup_free_ char *path = xasprintf("/v1/sandboxes/%s", id);
	_cleanup_buf_ struct buf out = { 0 };
	struct relay_target t = control_target(r, rt.host, rt.address, path);
	if (relay_call(&t, "GET", NULL, 0, &out, &err) != MHD_HTTP_OK)
		return false;
	*res = control_pass_json(r, MHD_HTTP_CREATED, &out, rt.host);
	return true;
}

/* A create under an Idempotency-Key that made a sandbox the fleet still
 * has: answered with that sandbox. */
static bool made_before(struct api_req *r, const char *owner, const char *idem,
			enum MHD_Result *res)
{
	char id[SANDBOX_ID_LEN + 1];
	_cleanup_err_ struct thaw_err *err = NULL;
	return sandbox_by_idem(api_control(r)->pg, owner, idem, id, &err) == 1 &&
	       answer_made(r, id, res);
}

/* Hosts a create tries before it gives the last refusal to the client. */
#define CREATE_HOSTS 3

enum MHD_Result control_sandbox_create(struct api_req *r)
{
	struct control *ctl = api_control(r);
	enum MHD_Result res;
	json_t *body = r->body_len ? api_body_object(r, &res) : json_object();
	if (!body)
		return res;
	/* The host validates the rest; what the control plane needs here is
	 * the template (for placement) and whose it will be (the host records
	 * the owner it is told: "owner" from an admin, else the caller). */
	json_t *t = json_object_get(body, "template"), *own = json_object_get(body, "owner");
	const char *tmpl = json_is_string(t) ? json_string_value(t) : "code-interpreter";
	if ((t && !json_is_string(t)) || !id_valid_template(tmpl)) {
		json_decref(body);
		return api_reply_fail(r, ERR_INVALID, "template must be 1-63 characters of [a-z0-9-]");
	}
	if (own && (!is_admin(r) || !json_is_string(own) ||
		    !id_valid_key_name(json_string_value(own)))) {
		json_decref(body);
		return api_reply_fail(r, is_admin(r) ? ERR_INVALID : ERR_FORBIDDEN,
				      "owner: an admin key may name an API key");
	}
	char owner[KEY_NAME_MAX + 1], tmpl_name[64];
	snprintf(owner, sizeof(owner), "%s", own ? json_string_value(own) : r->key->name);
	snprintf(tmpl_name, sizeof(tmpl_name), "%s", tmpl);
	const char *idem = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Idempotency-Key");
	if (idem && !id_valid_idem_key(idem)) {
		json_decref(body);
		return api_reply_fail(r, ERR_INVALID,
				      "Idempotency-Key must be 1-%d of [A-Za-z0-9._:-]", IDEM_KEY_MAX);
	}
	if (idem) {
		enum MHD_Result done;
		if (made_before(r, owner, idem, &done)) {
			json_decref(body);
			return done;
		}
	}
	if (own)
		json_object_set_new(body, "owner", json_string(owner));
	_cleanup_free_ char *fwd = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	struct placement pl;
	_cleanup_err_ struct thaw_err *err = NULL;
	_cleanup_buf_ struct buf out = { 0 };
	uint64_t t0 = time_mono_ns(), t1 = 0, t2 = 0;
	long st = 0;
	/* A host that refuses (it cannot run the template: another CPU
	 * model or accelerator, its store or memory full, its own cap: 409,
	 * 503, 429) made nothing: the next host is tried, up to
	 * CREATE_HOSTS in all. */
	const char *tried[CREATE_HOSTS];
	char tried_names[CREATE_HOSTS][64];
	struct place_hint hint = { .exclude = tried };
	for (;;) {
		if (sandbox_place(ctl->pg, owner, own ? 0 : r->key->max_sandboxes, tmpl_name, idem,
				  hint.nexclude ? &hint : NULL, &pl, &err) < 0)
			return api_reply_error(r, err);
		if (pl.made[0]) {
			/* Another request with this key finished the create
			 * between made_before and the placement. */
			if (answer_made(r, pl.made, &res))
				return res;
			return api_reply_fail(r, ERR_UNAVAILABLE,
					      "the sandbox %s this Idempotency-Key made does not "
					      "answer; retry later",
					      pl.made);
		}
		t1 = time_mono_ns();
		buf_free(&out);
		struct relay_target to = control_target(r, pl.host, pl.address, "/v1/sandboxes");
		to.idempotency_key = idem;
		st = relay_call(&to, "POST", fwd, strlen(fwd), &out, &err);
		t2 = time_mono_ns();
		bool refused = st == MHD_HTTP_CONFLICT || st == MHD_HTTP_SERVICE_UNAVAILABLE ||
			       st == MHD_HTTP_TOO_MANY_REQUESTS;
		if (!refused || hint.nexclude + 1 >= CREATE_HOSTS)
			break;
		log_info("control.create_elsewhere", "host=%s status=%ld", pl.host, st);
		sandbox_unplace(ctl->pg, &pl);
		snprintf(tried_names[hint.nexclude], sizeof(tried_names[0]), "%s", pl.host);
		tried[hint.nexclude] = tried_names[hint.nexclude];
		hint.nexclude++;
	}
	json_t *made = st == MHD_HTTP_CREATED ? json_loadb((const char *)out.data, out.len, 0, NULL)
					      : NULL;
	const char *id = json_string_value(json_object_get(made, "id"));
	const char *state = json_string_value(json_object_get(made, "state"));
	if (!id || !id_valid_sandbox(id) || !state) {
		/* Under a key, a create the host may have made (no answer) keeps
		 * its placement: the retry goes to the same host, which knows. */
		if (!idem || st != 0)
			sandbox_unplace(ctl->pg, &pl);
		json_decref(made);
		if (st == 0)
			return api_reply_error(r, err);
		if (st != MHD_HTTP_CREATED)
			return control_pass_json(r, st, &out, pl.host);
		return api_reply_fail(r, ERR_GUEST, "host %s answered a create without an id",
				      pl.host);
	}
	if (sandbox_placed(ctl->pg, &pl, id, owner, tmpl_name,
			   strcmp(state, "paused") ? "running" : "paused", idem, &err) < 0) {
		/* Made on the host but not recorded: it must not run unseen. */
		_cleanup_free_ char *path = xasprintf("/v1/sandboxes/%s", id);
		_cleanup_buf_ struct buf ignored = { 0 };
		struct relay_target undo = control_target(r, pl.host, pl.address, path);
		undo.on_behalf_of = NULL;
		relay_call(&undo, "DELETE", NULL, 0, &ignored, NULL);
		sandbox_unplace(ctl->pg, &pl);
		json_decref(made);
		return api_reply_error(r, err);
	}
	json_object_set_new(made, "host", json_string(pl.host));
	/* What the control plane added to the host's create. */
	json_object_set_new(made, "control_timings_ms",
			    json_pack("{s:f,s:f,s:f}", "placement", ns_to_ms(t1 - t0), "host",
				      ns_to_ms(t2 - t1), "record", ns_to_ms(time_mono_ns() - t2)));
	log_info("control.sandbox_created", "id=%s host=%s owner=%s", id, pl.host, owner);
	return api_reply_json(r, MHD_HTTP_CREATED, made);
}

/* A paused sandbox whose host is down or draining resumes on another
 * host: that host adopts its image from the object store (the host that
 * paused it uploaded it) and the row moves with it. The sandbox keeps its
 * id, processes and files. */
/* The policy fields of a host's network answer (not its slot). */
static json_t *policy_of(json_t *net)
{
	json_t *p = json_object();
	static const char *const fields[] = { "internet", "allow", "deny" };
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (json_object_get(net, fields[i]))
			json_object_set(p, fields[i], json_object_get(net, fields[i]));
	return p;
}

/* Keeps what a host said of a sandbox's env and network policy when it
 * may be needed without that host: a paused sandbox's (its pause, a GET),
 * and every policy change (PATCH answers the sandbox, POST .../network
 * the policy). resume_elsewhere hands them to the adopting host. */
static void record_settings(struct api_req *r, json_t *o, const char *state)
{
	bool is_policy = strstr(r->url, "/network") != NULL;
	bool wanted =
		is_policy || !strcmp(r->method, "PATCH") || (state && !strcmp(state, "paused"));
	if (!json_is_object(o) || !wanted)
		return;
	json_t *net = is_policy ? o : json_object_get(o, "network");
	json_t *env = json_object_get(o, "env");
	json_t *keep = json_object();
	if (json_is_boolean(json_object_get(net, "internet")))
		json_object_set_new(keep, "network", policy_of(net));
	if (!is_policy && json_is_object(env))
		json_object_set(keep, "env", env);
	_cleanup_free_ char *text = json_dumps(keep, JSON_COMPACT);
	json_decref(keep);
	_cleanup_err_ struct thaw_err *err = NULL;
	if (text && sandbox_set_settings(api_control(r)->pg, r->params[0], text, &err) < 0)
		log_warn("control.settings_not_kept", "id=%s error=\"%s\"", r->params[0],
			 err_msg(err));
}

static enum MHD_Result resume_elsewhere(struct api_req *r, const struct sandbox_route *rt)
{
	struct control *ctl = api_control(r);
	const char *id = r->params[0];
	if (!rt->image[0])
		return api_reply_fail(r, ERR_UNAVAILABLE,
				      "sandbox %s is paused on host %s, which is %s, and no image of "
				      "it is recorded",
				      id, rt->host, rt->host_state);
	struct placement pl;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_place(ctl->pg, rt->owner, 0, rt->tmpl, NULL, NULL, &pl, &err) < 0)
		return api_reply_error(r, err);
	_cleanup_free_ char *path = xasprintf("/v1/sandboxes/%s/adopt", id);
	json_t *body = json_pack("{s:s,s:s}", "image", rt->image, "owner", rt->owner);
	/* Its env and network policy go with it (its host is not there to
	 * ask). */
	json_t *settings = NULL;
	if (sandbox_settings(ctl->pg, id, &settings, &err) < 0) {
		sandbox_unplace(ctl->pg, &pl);
		json_decref(body);
		return api_reply_error(r, err);
	}
	json_object_update(body, settings);
	json_decref(settings);
	_cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	/* adopt is an admin route: the control plane's own key, the owner in
	 * the body. */
	struct relay_target t = { .address = pl.address, .path_query = path };
	host_key_derive(ctl->fleet_secret, pl.host, t.credential);
	/* The row moves first: the new host lists the sandbox in its
	 * heartbeats while it adopts it, and a host holding a sandbox whose
	 * row names another host that is up is told to drop it. */
	if (sandbox_moved(ctl->pg, &pl, id, "paused", &err) < 0) {
		sandbox_unplace(ctl->pg, &pl);
		return api_reply_error(r, err);
	}
	_cleanup_buf_ struct buf out = { 0 };
	long st = relay_call(&t, "POST", text, strlen(text), &out, &err);
	if (st != MHD_HTTP_CREATED) {
		_cleanup_err_ struct thaw_err *back = NULL;
		if (sandbox_move_back(ctl->pg, id, rt->host, &back) < 0)
			log_warn("control.move_back_failed", "id=%s error=\"%s\"", id,
				 err_msg(back));
		if (st == 0)
			return api_reply_error(r, err);
		if (st == MHD_HTTP_NOT_FOUND)
			return api_reply_fail(r, ERR_UNAVAILABLE,
					      "sandbox %s is paused on host %s (%s) and its image %s "
					      "is not in the object store",
					      id, rt->host, rt->host_state, rt->image);
		return control_pass_json(r, st, &out, pl.host);
	}
	sandbox_set_state(ctl->pg, id, "running", NULL, NULL);
	log_notice("control.sandbox_moved", "id=%s from=%s to=%s image=%s", id, rt->host, pl.host,
		   rt->image);
	return control_pass_json(r, MHD_HTTP_OK, &out, pl.host);
}

/* GET, DELETE, pause, resume, recover: the host's answer, and the record kept in
 * step with it. */
enum MHD_Result control_sandbox_call(struct api_req *r)
{
	struct control *ctl = api_control(r);
	struct sandbox_route rt;
	enum MHD_Result res;
	if (!route_of(r, &rt, &res))
		return res;
	bool del = !strcmp(r->method, "DELETE");
	_cleanup_err_ struct thaw_err *err = NULL;
	if (!strcmp(rt.state, "lost")) {
		if (!del)
			return strcmp(r->method, "GET")
				       ? api_reply_fail(r, ERR_CONFLICT, "sandbox %s is lost: %s",
							r->params[0], rt.reason)
				       : api_reply_json(r, MHD_HTTP_OK, lost_json(r->params[0], &rt));
		if (sandbox_forget_lost(ctl->pg, r->params[0], rt.host, &err) < 0)
			return api_reply_error(r, err);
		return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
	}
	bool resume = strstr(r->url, "/resume") != NULL;
	if (resume && !strcmp(rt.state, "paused") && strcmp(rt.host_state, "up"))
		return resume_elsewhere(r, &rt);
	_cleanup_buf_ struct buf out = { 0 };
	struct relay_target t = control_target(r, rt.host, rt.address, r->url);
	long st = relay_call(&t, r->method, r->body_len ? r->body : NULL, r->body_len, &out, &err);
	if (st == 0)
		return api_reply_error(r, err);
	if (del && (st == MHD_HTTP_NO_CONTENT || st == MHD_HTTP_NOT_FOUND))
		sandbox_forget(ctl->pg, r->params[0], NULL);
	if (!del && st < 300) {
		json_t *o = json_loadb((const char *)out.data, out.len, 0, NULL);
		const char *state = json_string_value(json_object_get(o, "state"));
		const char *image = json_string_value(
			json_object_get(json_object_get(o, "image"), "id"));
		if (state && (!strcmp(state, "running") || !strcmp(state, "paused")))
			sandbox_set_state(ctl->pg, r->params[0], state,
					  image && id_valid_build(image) ? image : NULL, NULL);
		record_settings(r, o, state);
		json_decref(o);
	}
	return control_pass_json(r, st, &out, rt.host);
}

bool control_sandbox_live(struct api_req *r, struct sandbox_route *rt, enum MHD_Result *res)
{
	if (!route_of(r, rt, res))
		return false;
	if (strcmp(rt->state, "lost") != 0)
		return true;
	*res = api_reply_fail(r, ERR_CONFLICT, "sandbox %s is lost: %s", r->params[0], rt->reason);
	return false;
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	(void)kind;
	struct buf *b = cls;
	bool first = !memchr(b->data, '?', b->len);
	/* Raw arguments hold no space or line break (they came in a request
	 * line); one that did would break the request line it goes into. */
	if (!strpbrk(key, " \r\n") && (!value || !strpbrk(value, " \r\n")))
		buf_printf(b, "%s%s%s%s", first ? "?" : "&", key, value ? "=" : "",
			   value ? value : "");
	return MHD_YES;
}

void control_path_query(struct api_req *r, struct buf *out)
{
	buf_append_str(out, r->url);
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_arg, out);
}

/* Everything else under a sandbox: relayed, streamed. */
enum MHD_Result control_sandbox_relay(struct api_req *r)
{
	struct sandbox_route rt;
	enum MHD_Result res;
	if (!control_sandbox_live(r, &rt, &res))
		return res;
	_cleanup_buf_ struct buf pq = { 0 };
	control_path_query(r, &pq);
	struct relay_target t = control_target(r, rt.host, rt.address, buf_cstr(&pq));
	return relay_request(r, &t);
}

/* GET and PUT .../files/signed: public here as on the host, which checks
 * the URL's signature (its key never leaves the host). This side only
 * finds the sandbox's host, for any caller, and relays the request as it
 * came: without a key or a user, so the host grants it nothing a signed
 * URL does not. */
enum MHD_Result control_sandbox_signed(struct api_req *r)
{
	if (!id_valid_sandbox(r->params[0]))
		return api_reply_fail(r, ERR_INVALID,
				      "\"%.64s\" is not a sandbox id (sb- and 12 characters)",
				      r->params[0]);
	struct sandbox_route rt;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_find(api_control(r)->pg, r->params[0], &rt, &err) < 0)
		return err->code == ERR_NOT_FOUND
			       ? api_reply_fail(r, ERR_NOT_FOUND, "sandbox %s does not exist",
						r->params[0])
			       : api_reply_error(r, err);
	_cleanup_buf_ struct buf pq = { 0 };
	control_path_query(r, &pq);
	struct relay_target t = { .address = rt.address, .path_query = buf_cstr(&pq) };
	return relay_request(r, &t);
}
