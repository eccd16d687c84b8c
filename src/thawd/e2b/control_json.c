/* thaw's sandboxes in the shapes E2B's SDK reads. */
#include <string.h>

#include "core/sandbox.h"
#include "e2b/control.h"
#include "net/netpolicy.h"
#include "ops/measure.h"
#include "template/build.h"
#include "template/catalog.h"
#include "timeutil.h"

json_t *e2b_sandbox_created_json(struct host *h, struct sandbox *sb)
{
	char token[E2B_TOKEN_LEN + 1];
	e2b_access_token(h, sb->id, token);
	/* domain null: the SDK then reaches envd through E2B_SANDBOX_URL
	 * (this listener), the only way thaw serves it. trafficAccessToken:
	 * the same token, which @e2b/code-interpreter sends (as
	 * E2B-Traffic-Access-Token) on its context calls instead of
	 * X-Access-Token. */
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:n}", "sandboxID", sb->id, "templateID",
			 sb->template_name, "alias", sb->template_name, "clientID", "thaw",
			 "envdVersion", E2B_ENVD_VERSION, "envdAccessToken", token,
			 "trafficAccessToken", token, "domain");
}

const char *e2b_state_name(enum sb_state s)
{
	/* E2B knows two states; a sandbox on its way back counts as paused
	 * until it runs, one on its way to a pause as running until paused. */
	return s == SB_PAUSED || s == SB_RESUMING ? "paused" : "running";
}

static json_t *time_json(int64_t secs)
{
	if (!secs)
		return json_null();
	char s[32];
	time_format_rfc3339(secs, s);
	return json_string(s);
}

/* Its vCPUs (its CPU limit rounded up, else its template's) and memory,
 * from its template build's metadata; 0 where the build cannot be read. */
static void shape(struct host *h, struct sandbox *sb, json_int_t *cpus, json_int_t *mem_mb)
{
	struct template *t = NULL;
	*cpus = *mem_mb = 0;
	if (catalog_get_build(h->catalog, sb->template_name, sb->build_id, &t, NULL) == 0) {
		*cpus = t->meta.vcpus;
		*mem_mb = t->meta.memory_mb;
		catalog_put(h->catalog, t);
	}
	if (sb->cpu_millis)
		*cpus = (sb->cpu_millis + 999) / 1000;
}

json_t *e2b_sandbox_info_json(struct host *h, struct sandbox *sb, bool detail)
{
	pthread_mutex_lock(&sb->lock);
	enum sb_state state = sb->state;
	int64_t timeout_at = sb->timeout_at;
	pthread_mutex_unlock(&sb->lock);
	json_int_t cpus, mem;
	shape(h, sb, &cpus, &mem);
	json_t *md = sb->metadata ? json_loads(sb->metadata, 0, NULL) : NULL;
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:s,s:I,s:I,s:s}", "sandboxID", sb->id,
			      "templateID", sb->template_name, "alias", sb->template_name,
			      "clientID", "thaw", "metadata", md ? md : json_object(), "startedAt",
			      time_json(sb->created_at), "endAt", time_json(timeout_at), "state",
			      e2b_state_name(state), "cpuCount", cpus, "memoryMB", mem,
			      "envdVersion", E2B_ENVD_VERSION);
	if (!detail)
		return o;
	char token[E2B_TOKEN_LEN + 1];
	e2b_access_token(h, sb->id, token);
	struct netpolicy *p = sandbox_netpolicy(sb);
	json_t *net = netpolicy_to_json(p);
	netpolicy_free(p);
	/* Its disk as the host measures it (a system call or two: not in
	 * lists). */
	struct sandbox_measures u;
	sandbox_measure(h, sb, state, &u);
	json_object_set_new(o, "diskSizeMB",
			    json_integer(u.has_disk ? (json_int_t)(u.disk.apparent >> 20) : 0));
	json_object_set_new(o, "envdAccessToken", json_string(token));
	json_object_set_new(o, "trafficAccessToken", json_string(token));
	json_object_set_new(o, "domain", json_null());
	json_object_set(o, "allowInternetAccess", json_object_get(net, "internet"));
	json_object_set_new(o, "network",
			    json_pack("{s:O,s:O}", "allowOut", json_object_get(net, "allow"),
				      "denyOut", json_object_get(net, "deny")));
	json_decref(net);
	json_object_set_new(o, "lifecycle",
			    json_pack("{s:s,s:b}", "onTimeout",
				      sb->timeout_pauses ? "pause" : "kill", "autoResume",
				      sb->auto_resume));
	return o;
}
