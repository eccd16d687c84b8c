/* Exec: a command in a running sandbox (resumed first when it is paused
 * and asks for that), through the guest agent; delete, pause and thawd's
 * shutdown cut it short by shutting its connection down. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/registry.h"
#include "core/stats.h"
#include "failpoint.h"
#include "guestconn/agent.h"
#include "ops/ops.h"
#include "template/catalog.h"

#define READY_TIMEOUT_MS 10000

static bool still_running(void *ud)
{
	struct sandbox *sb = ud;
	pthread_mutex_lock(&sb->lock);
	bool running = sb->state == SB_RUNNING;
	pthread_mutex_unlock(&sb->lock);
	return running;
}

/* Whether a request may go to sb now (0), after a resume (*resume), or
 * not at all (-1, with the reason). */
static int request_state(struct sandbox *sb, bool auto_resume, bool *resume,
			 enum sb_state *state_out, struct thaw_err **err)
{
	pthread_mutex_lock(&sb->lock);
	enum sb_state state = sb->state;
	bool resumable = state == SB_PAUSED || state == SB_PAUSING || state == SB_RESUMING;
	*resume = resumable && (auto_resume || sb->auto_resume);
	int rc = 0;
	if (state != SB_RUNNING && !*resume && resumable)
		rc = err_set(err, ERR_CONFLICT,
			     "sandbox %s is %s: resume it first, or ask for auto_resume", sb->id,
			     sb_state_name(state));
	else if (state != SB_RUNNING && !*resume)
		rc = err_set(err, ERR_CONFLICT, "sandbox %s is %s%s%s", sb->id,
			     sb_state_name(state), sb->reason ? ": " : "",
			     sb->reason ? sb->reason : "");
	pthread_mutex_unlock(&sb->lock);
	*state_out = state;
	return rc;
}

/* Looks id up and asks request_state; on success *out is a reference
 * and *state its state. */
static int lookup_for_request(struct host *h, const char *id, bool auto_resume,
			      struct sandbox **out, enum sb_state *state, struct thaw_err **err)
{
	struct sandbox *sb = registry_get(h, id);
	if (!sb)
		return err_set(err, ERR_NOT_FOUND, "sandbox %s does not exist", id);
	bool resume;
	if (request_state(sb, auto_resume, &resume, state, err) < 0) {
		sandbox_unref(h, sb);
		return -1;
	}
	*out = sb;
	return 0;
}

int sandbox_exec_check(struct host *h, const char *id, bool auto_resume, struct thaw_err **err)
{
	struct sandbox *sb;
	enum sb_state state;
	if (lookup_for_request(h, id, auto_resume, &sb, &state, err) < 0)
		return -1;
	sandbox_unref(h, sb);
	return 0;
}

int sandbox_running_for_request(struct host *h, const char *id, bool auto_resume,
			       struct sandbox **out, struct thaw_err **err)
{
	struct sandbox *sb;
	enum sb_state state;
	if (lookup_for_request(h, id, auto_resume, &sb, &state, err) < 0)
		return -1;
	if (state == SB_RUNNING) {
		*out = sb;
		return 0;
	}
	sandbox_unref(h, sb);
	return sandbox_resume(h, id, out, err);
}

/* Whether sb's guest agent speaks protocol version min or later, from
 * what its template's bake recorded ("thaw-agent/N"; a build that says
 * nothing is given the benefit of the doubt). An older agent would
 * silently skip fields it does not know, such as T_USER. */
static int agent_new_enough(struct host *h, const struct sandbox *sb, int min,
			    struct thaw_err **err)
{
	struct template *src = NULL;
	if (min <= 0 || sandbox_source(h, sb, &src, NULL) < 0)
		return 0;
	int version = 0;
	bool known = sscanf(src->meta.agent_version, "thaw-agent/%d", &version) == 1;
	catalog_put(h->catalog, src);
	if (known && version < min)
		return err_set(err, ERR_CONFLICT,
			       "sandbox %s runs guest agent thaw-agent/%d, which predates this "
			       "request (thaw-agent/%d): bake its template again",
			       sb->id, version, min);
	return 0;
}

/* One call on *cp, a parked connection, or when *cp is NULL on a new
 * one, left in *cp for the caller to park or close. */
static int call_on(struct host *h, struct sandbox *sb, struct agent_conn **cp, sandbox_agent_fn fn,
		   void *ud, struct thaw_err **err)
{
	if (!*cp && agent_connect(sb->slot, READY_TIMEOUT_MS, AGENT_ATTEMPT_RESTORED_MS,
				  still_running, sb, cp, err) < 0)
		return -1;
	struct agent_conn *c = *cp;
	int slot = sandbox_inflight_add(sb, agent_conn_fd(c), err);
	/* Shutdown may have swept the in-flight list just before we joined. */
	if (slot >= 0 && __atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE)) {
		sandbox_inflight_del(sb, slot);
		slot = -1;
		err_set(err, ERR_UNAVAILABLE, "thawd is stopping");
	}
	if (slot < 0)
		return -1;
	failpoint("exec.connected", sb->vmm);
	int rc = fn(c, ud, err);
	sandbox_inflight_del(sb, slot);
	return rc;
}

int sandbox_agent_call(struct host *h, const char *id, bool auto_resume, int min_agent,
		       sandbox_agent_fn fn, void *ud, struct thaw_err **err)
{
	struct sandbox *sb;
	if (sandbox_running_for_request(h, id, auto_resume, &sb, err) < 0)
		return -1;
	if (agent_new_enough(h, sb, min_agent, err) < 0) {
		sandbox_unref(h, sb);
		return -1;
	}
	/* A parked connection is never sent a request twice: a request may
	 * have consumed its input (stdin from a file) before it failed. */
	struct agent_conn *c = sandbox_agent_take(sb);
	int rc = call_on(h, sb, &c, fn, ud, err);
	sandbox_agent_park(sb, c);
	if (rc < 0 && err) {
		pthread_mutex_lock(&sb->lock);
		bool gone = sb->state == SB_DELETING;
		bool paused = sb->state == SB_PAUSING || sb->state == SB_PAUSED;
		bool failed = sb->state == SB_FAILED;
		pthread_mutex_unlock(&sb->lock);
		bool stopping = __atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE);
		if (gone || paused || failed || stopping) {
			err_free(*err);
			*err = NULL;
			if (failed)
				err_set(err, ERR_CONFLICT,
					"sandbox %s failed while the command ran: its VMM exited",
					id);
			else if (gone)
				err_set(err, ERR_NOT_FOUND,
					"sandbox %s was deleted while the command ran", id);
			else if (paused)
				err_set(err, ERR_CONFLICT,
					"sandbox %s was paused while the command ran", id);
			else
				err_set(err, ERR_UNAVAILABLE,
					"thawd is stopping; the command was interrupted");
		}
	}
	sandbox_unref(h, sb);
	return rc;
}

struct exec_call {
	const struct agent_exec_req *req;
	struct agent_exec_result *res;
};

static int exec_on(struct agent_conn *c, void *ud, struct thaw_err **err)
{
	struct exec_call *x = ud;
	return agent_exec(c, x->req, x->res, err);
}

int sandbox_exec(struct host *h, const char *id, const struct agent_exec_req *req, bool auto_resume,
		 struct agent_exec_result *res, struct thaw_err **err)
{
	STATS_TIME_OP("exec", err);
	struct exec_call x = { req, res };
	/* What an older agent would ignore rather than refuse. */
	int min = req->user || req->attach_pid ? PROTO_PROCESS_TABLE : 0;
	return sandbox_agent_call(h, id, auto_resume, min, exec_on, &x, err);
}
