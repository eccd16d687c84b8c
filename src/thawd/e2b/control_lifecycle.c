/* The control plane's lifecycle: getInfo, setTimeout, pause, connect
 * (which resumes), fork and metrics, each onto the operation /v1 uses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/validate.h"
#include "core/registry.h"
#include "core/usage.h"
#include "e2b/control.h"
#include "ops/measure.h"
#include "timeutil.h"

static enum sb_state state_of(struct sandbox *sb)
{
	pthread_mutex_lock(&sb->lock);
	enum sb_state s = sb->state;
	pthread_mutex_unlock(&sb->lock);
	return s;
}

/* An optional "timeout" in seconds (1 to --max-timeout); 0 when absent. */
static int body_timeout(struct api_req *r, json_t *body, int64_t *out, struct thaw_err **err)
{
	json_t *t = json_object_get(body, "timeout");
	int64_t max = api_host(r)->cfg->max_timeout_s;
	*out = 0;
	if (!t || json_is_null(t))
		return 0;
	if (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > max)
		return err_set(err, ERR_INVALID,
			       "timeout must be an integer number of seconds from 1 to %lld",
			       (long long)max);
	*out = json_integer_value(t);
	return 0;
}

/* Only these fields, with "memory" (keep memory) true or absent: thaw's
 * pauses keep memory, its resumes restore it. */
static int check_fields(json_t *body, const char *const *allowed, struct thaw_err **err)
{
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v)
	{
		bool ok = false;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = strcmp(key, allowed[i]) == 0;
		if (!ok)
			return err_set(err, ERR_INVALID, "field \"%.64s\" is not supported by thaw",
				       key);
	}
	json_t *m = json_object_get(body, "memory");
	if (m && !json_is_null(m) && !json_is_true(m))
		return err_set(err, ERR_INVALID,
			       "memory: false (a filesystem-only pause or a reboot on resume) is "
			       "not supported: thaw's pauses keep memory and resumes restore it");
	return 0;
}

/* The sandbox and the body of a POST under /sandboxes/{id}; NULL after
 * replying. */
static json_t *sandbox_body(struct api_req *r, const char *const *fields, struct sandbox **sb,
			    enum MHD_Result *res)
{
	*sb = e2b_control_sandbox(r, res);
	if (!*sb)
		return NULL;
	json_t *body = e2b_body_object(r, true, res);
	_cleanup_err_ struct thaw_err *err = NULL;
	if (body && check_fields(body, fields, &err) < 0) {
		json_decref(body);
		body = NULL;
		*res = e2b_reply_error(r, err);
	}
	if (!body) {
		sandbox_unref(api_host(r), *sb);
		*sb = NULL;
	}
	return body;
}

enum MHD_Result e2b_get(struct api_req *r)
{
	enum MHD_Result res;
	struct sandbox *sb = e2b_control_sandbox(r, &res);
	if (!sb)
		return res;
	json_t *o = e2b_sandbox_info_json(api_host(r), sb, true);
	sandbox_unref(api_host(r), sb);
	return api_reply_json(r, MHD_HTTP_OK, o);
}

enum MHD_Result e2b_set_timeout(struct api_req *r)
{
	static const char *const fields[] = { "timeout", NULL };
	enum MHD_Result res;
	struct sandbox *sb;
	json_t *body = sandbox_body(r, fields, &sb, &res);
	if (!body)
		return res;
	sandbox_unref(api_host(r), sb);
	_cleanup_err_ struct thaw_err *err = NULL;
	int64_t timeout;
	int rc = body_timeout(r, body, &timeout, &err);
	if (rc == 0 && !json_object_get(body, "timeout"))
		rc = err_set(&err, ERR_INVALID, "timeout (seconds) is required");
	json_decref(body);
	sb = NULL;
	if (rc == 0)
		rc = sandbox_keepalive(api_host(r), r->params[0], timeout, &sb, &err);
	if (rc < 0)
		return e2b_reply_error(r, err);
	sandbox_unref(api_host(r), sb);
	return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
}

enum MHD_Result e2b_pause(struct api_req *r)
{
	static const char *const fields[] = { "memory", NULL };
	enum MHD_Result res;
	struct sandbox *sb;
	json_t *body = sandbox_body(r, fields, &sb, &res);
	if (!body)
		return res;
	json_decref(body);
	/* E2B answers an already paused sandbox with 409 (the SDK's pause()
	 * then returns false); thaw's pause would be a no-op. */
	bool paused = strcmp(e2b_state_name(state_of(sb)), "paused") == 0;
	sandbox_unref(api_host(r), sb);
	if (paused)
		return e2b_reply_fail(r, ERR_CONFLICT, "sandbox %s is already paused",
				      r->params[0]);
	_cleanup_err_ struct thaw_err *err = NULL;
	struct sandbox *now = NULL;
	if (sandbox_pause(api_host(r), r->params[0], &now, &err) < 0)
		return e2b_reply_error(r, err);
	sandbox_unref(api_host(r), now);
	return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
}

/* Sandbox.connect(): resumes a paused sandbox (201), or finds it running
 * (200); either way a given timeout is its new one from now. */
enum MHD_Result e2b_connect(struct api_req *r)
{
	static const char *const fields[] = { "timeout", "memory", NULL };
	enum MHD_Result res;
	struct sandbox *sb;
	json_t *body = sandbox_body(r, fields, &sb, &res);
	if (!body)
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	int64_t timeout;
	int rc = body_timeout(r, body, &timeout, &err);
	json_decref(body);
	bool paused = strcmp(e2b_state_name(state_of(sb)), "paused") == 0;
	sandbox_unref(api_host(r), sb);
	sb = NULL;
	if (rc == 0 && paused)
		rc = sandbox_resume(api_host(r), r->params[0], &sb, &err);
	if (rc == 0 && timeout) {
		sandbox_unref(api_host(r), sb);
		sb = NULL;
		rc = sandbox_keepalive(api_host(r), r->params[0], timeout, &sb, &err);
	}
	if (rc == 0 && !sb && !(sb = registry_get(api_host(r), r->params[0])))
		rc = err_set(&err, ERR_NOT_FOUND, "sandbox %s does not exist", r->params[0]);
	if (rc < 0)
		return e2b_reply_error(r, err);
	json_t *o = e2b_sandbox_created_json(api_host(r), sb);
	sandbox_unref(api_host(r), sb);
	return api_reply_json(r, paused ? MHD_HTTP_CREATED : MHD_HTTP_OK, o);
}

/* One child as E2B's fork answers it: {"sandbox": {...}}, or, when its
 * timeout could not be set, {"error": {code, message}} and the child is
 * deleted (the SDK never learns its id). */
static json_t *fork_child_json(struct api_req *r, struct sandbox *child, int64_t timeout)
{
	struct sandbox *now = NULL;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (timeout && sandbox_keepalive(api_host(r), child->id, timeout, &now, &err) < 0) {
		sandbox_delete(api_host(r), child->id, NULL);
		return json_pack("{s:{s:i,s:s}}", "error", "code", (int)api_status_for(err->code),
				 "message", err->msg);
	}
	sandbox_unref(api_host(r), now);
	return json_pack("{s:o}", "sandbox", e2b_sandbox_created_json(api_host(r), child));
}

/* Sandbox.fork(): count children of the running sandbox, all or nothing
 * (thaw's fork), each E2B's {"sandbox": {...}}; a given timeout is each
 * child's. */
enum MHD_Result e2b_fork(struct api_req *r)
{
	static const char *const fields[] = { "timeout", "count", NULL };
	enum MHD_Result res;
	struct sandbox *sb;
	json_t *body = sandbox_body(r, fields, &sb, &res);
	if (!body)
		return res;
	sandbox_unref(api_host(r), sb);
	_cleanup_err_ struct thaw_err *err = NULL;
	int64_t timeout;
	struct fork_params p = { .count = 1 };
	json_t *count = json_object_get(body, "count");
	json_t *thaw = json_pack("{s:o}", "count", count ? json_incref(count) : json_integer(1));
	int rc = body_timeout(r, body, &timeout, &err);
	if (rc == 0)
		rc = validate_fork(thaw, &p, &err);
	json_decref(thaw);
	json_decref(body);
	struct fork_result fr = { 0 };
	struct sb_owner owner = api_owner(r);
	if (rc == 0)
		rc = sandbox_fork(api_host(r), r->params[0], p.count, &owner, &fr, &err);
	if (rc < 0)
		return e2b_reply_error(r, err);
	json_t *arr = json_array();
	for (size_t i = 0; i < fr.count; i++)
		json_array_append_new(arr, fork_child_json(r, fr.children[i], timeout));
	fork_result_free(api_host(r), &fr);
	return api_reply_json(r, MHD_HTTP_CREATED, arr);
}

/* A query time in unix seconds: 1 present, 0 absent, -1 replied. */
static int query_time(struct api_req *r, const char *name, int64_t *out, enum MHD_Result *res)
{
	const char *raw = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
	if (!raw)
		return 0;
	char v[32];
	char *end = NULL;
	long long n = api_query_decode(raw, v, sizeof(v)) == 0 ? strtoll(v, &end, 10) : -1;
	if (!end || !*v || *end || n < 0) {
		*res = e2b_reply_fail(r, ERR_INVALID, "%s must be a unix time in seconds", name);
		return -1;
	}
	*out = n;
	return 1;
}

/* A history point in E2B's shape (memCache: not measured). */
static json_t *e2b_point_json(const struct usage_point *p)
{
	char ts[32];
	time_format_rfc3339(p->t, ts);
	return json_pack("{s:s,s:f,s:i,s:I,s:I,s:n,s:I,s:I}", "timestamp", ts, "cpuUsedPct",
			 p->cpu_used_pct, "cpuCount", (int)p->cpu_count, "memUsed",
			 (json_int_t)p->mem_used, "memTotal", (json_int_t)p->mem_total, "memCache",
			 "diskUsed", (json_int_t)p->disk_used, "diskTotal",
			 (json_int_t)p->disk_total);
}

/* One point measured now, for a running sandbox the sampler has not
 * reached yet (just created): its CPU is unknown. */
static json_t *e2b_point_now(struct host *h, struct sandbox *sb, int64_t now)
{
	struct sandbox_measures u;
	sandbox_measure(h, sb, SB_RUNNING, &u);
	char ts[32];
	time_format_rfc3339(now, ts);
	json_t *info = e2b_sandbox_info_json(h, sb, false);
	json_t *o = json_pack(
		"{s:s,s:n,s:O,s:I,s:I,s:n,s:I,s:I}", "timestamp", ts, "cpuUsedPct", "cpuCount",
		json_object_get(info, "cpuCount"), "memUsed",
		(json_int_t)(u.has_resources ? u.memory_used : 0), "memTotal",
		(json_int_t)(u.has_resources ? u.limits.memory_bytes : 0), "memCache", "diskUsed",
		(json_int_t)(u.has_disk ? u.disk.allocated : 0), "diskTotal",
		(json_int_t)(u.has_disk ? u.disk.apparent : 0));
	json_decref(info);
	return o;
}

/* Sandbox.getMetrics(): the sandbox's usage history (core/usage.h) in
 * the window (start, end); a running sandbox with no sample yet gets one
 * point measured now, when the window holds now. */
enum MHD_Result e2b_metrics(struct api_req *r)
{
	enum MHD_Result res;
	int64_t start = 0, end = INT64_MAX, now = (int64_t)(time_real_ns() / 1000000000ull);
	if (query_time(r, "start", &start, &res) < 0 || query_time(r, "end", &end, &res) < 0)
		return res;
	struct sandbox *sb = e2b_control_sandbox(r, &res);
	if (!sb)
		return res;
	struct host *h = api_host(r);
	size_t n = 0;
	struct usage_point *pts = h->usage ? usage_query(h->usage, sb->id, start, end, &n) : NULL;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, e2b_point_json(&pts[i]));
	free(pts);
	/* Only when it has no sample at all: an empty window of a sandbox
	 * with history stays empty. */
	if (n == 0 && state_of(sb) == SB_RUNNING && start <= now && now <= end &&
	    !(h->usage && usage_count(h->usage, sb->id)))
		json_array_append_new(arr, e2b_point_now(h, sb, now));
	sandbox_unref(h, sb);
	return api_reply_json(r, MHD_HTTP_OK, arr);
}
