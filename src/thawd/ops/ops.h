/* The operations on sandboxes: one file each in ops/ (sandbox_<verb> in
 * ops/<verb>.c), called by the API (api/) and by thawd's own threads
 * (expire from the janitor, vmm_exited from the supervisor). They work on
 * the mechanisms in core/, vmm/, net/, disk/ and db/, and never on each
 * other's internals.
 *
 * Ownership: an operation that returns a sandbox returns a new reference
 * (sandbox_unref); the registry keeps its own. */
#ifndef THAW_OPS_H
#define THAW_OPS_H

#include <stdbool.h>
#include <jansson.h>
#include <stdint.h>

#include "core/host.h"
#include "core/sandbox.h"
#include "core/vmstart.h"
#include "guestconn/agent.h"
#include "ops/requests.h"
#include "template/meta.h"

/* Creates a sandbox from a template, restored (never booted unless it
 * asks for cold_boot), running when this returns. The owner's place and
 * the host's are reserved first and given back on failure. */
int sandbox_create(struct host *h, const struct create_req *req, struct sandbox **out,
		   struct thaw_err **err);

/* ERR_NOT_FOUND for an unknown id, ERR_CONFLICT while it is created. */
int sandbox_delete(struct host *h, const char *id, struct thaw_err **err);

/* What sandbox_exec would say before running anything: 0 when the
 * sandbox runs (or is paused and will be resumed), else why not. */
int sandbox_exec_check(struct host *h, const char *id, bool auto_resume, struct thaw_err **err);
/* The running incarnation of id (a new reference): resumed first when it
 * is paused and auto_resume (or the sandbox's own setting) says so,
 * ERR_CONFLICT when it is paused otherwise, ERR_NOT_FOUND when unknown. */
int sandbox_running_for_request(struct host *h, const char *id, bool auto_resume,
				struct sandbox **out, struct thaw_err **err);
/* Runs a command (or, in attach mode, follows one of the guest's process
 * table); res is filled on success. A paused sandbox is resumed first
 * when auto_resume (or the sandbox's own setting) says so, and is
 * ERR_CONFLICT otherwise. */
int sandbox_exec(struct host *h, const char *id, const struct agent_exec_req *req, bool auto_resume,
		 struct agent_exec_result *res, struct thaw_err **err);
/* What sandbox_exec is made of: fn with a connection to the guest agent
 * of id's running incarnation (resumed first as above), cut short like
 * an exec by delete, pause and shutdown (whose errors then say so).
 * min_agent: the protocol version (thaw-agent/N) the request needs; a
 * sandbox whose template was baked with an older agent is ERR_CONFLICT. */
struct agent_conn;
typedef int (*sandbox_agent_fn)(struct agent_conn *c, void *ud, struct thaw_err **err);
int sandbox_agent_call(struct host *h, const char *id, bool auto_resume, int min_agent,
		       sandbox_agent_fn fn, void *ud, struct thaw_err **err);

/* run_code (ops/run_code.c): a cell run by the code interpreter of the
 * sandbox's template; each checked event of its answer goes to
 * req->on_event (borrowed) as it comes, the "end" event last. Fails when
 * the sandbox has no interpreter, the interpreter misbehaved or stopped
 * before its "end", or exec itself fails. */
int sandbox_run_code(struct host *h, const char *id, const struct run_code_req *req,
		     struct thaw_err **err);
/* A context operation ({"op": "create_context", ...}): the interpreter's
 * answer in *reply (a new reference); its refusals as errors
 * (ERR_NOT_FOUND for an unknown context). */
int sandbox_interp_op(struct host *h, const char *id, json_t *op, bool auto_resume,
		      json_t **reply, struct thaw_err **err);

/* Pause: the guest is captured into an image (memory, device state,
 * disk), its VMM exits and its slot goes back: a paused sandbox costs
 * disk only. Resume restores it from that image, processes and all, with
 * a fresh clock and entropy, and restarts its timeout. Both return the
 * sandbox's new incarnation (a new reference) and are no-ops on a
 * sandbox that is already in the asked-for state. */
int sandbox_pause(struct host *h, const char *id, struct sandbox **out, struct thaw_err **err);
int sandbox_resume(struct host *h, const char *id, struct sandbox **out, struct thaw_err **err);
/* Records a sandbox another host paused (its image in the object store)
 * as paused here under the same id (ops/adopt.c); owner NULL: the one
 * its image names; network and env (JSON object text) as its old host
 * had them, NULL: the default policy, no env. */
struct netpolicy;
int sandbox_adopt(struct host *h, const char *id, const char *image_id, const char *owner,
		  const struct netpolicy *network, const char *env, struct thaw_err **err);

/* Export (ops/export.c): the running sandbox captured into an image that
 * is in the object store when this returns, for children on other hosts
 * (sandbox_adopt_child); the sandbox runs on after a short stop. */
struct export_result {
	char image[48];
	double stopped_ms, capture_ms, upload_ms;
};
int sandbox_export(struct host *h, const char *id, struct export_result *out,
		   struct thaw_err **err);

/* A fork child on this host of a parent on another (ops/adopt.c): the
 * image another host exported is imported (memory and disk streamed)
 * and sandbox id starts from it as a fork child of parent would (fresh
 * clock, entropy, hostname; its own timeout). Its place is reserved
 * here; on failure nothing of it is left. *out: a new reference. */
struct child_spec {
	const char *image, *parent, *owner;
	int64_t timeout_s;
	const char *metadata; /* JSON object text; NULL: {} */
	/* The parent's, as its host reported them: NULL: the default
	 * policy, no env (JSON object text). */
	const struct netpolicy *network;
	const char *env;
};
int sandbox_adopt_child(struct host *h, const char *id, const struct child_spec *spec,
			struct sandbox **out, struct thaw_err **err);

/* Fork: count children that start as copies of the running parent at
 * one instant (memory, processes, disk); the parent runs on after a
 * short stop. All or nothing: on failure no child is left. */
struct fork_result {
	struct sandbox **children; /* count references */
	size_t count;
	double stopped_ms; /* how long the parent was stopped */
	double capture_ms; /* until the image was published */
};
int sandbox_fork(struct host *h, const char *id, size_t count, const struct sb_owner *owner,
		 struct fork_result *out, struct thaw_err **err);
void fork_result_free(struct host *h, struct fork_result *r);

/* Snapshot: a new template `name` (which must not exist) from the
 * running sandbox; the sandbox runs on after a short stop. owner: the
 * key the template is private to, NULL for a shared one. */
struct snapshot_result {
	struct template_meta meta;
	double stopped_ms, total_ms;
};
int sandbox_snapshot(struct host *h, const char *id, const char *name, const char *owner,
		     struct snapshot_result *out, struct thaw_err **err);

/* Sets a new timeout from now (0: none); a paused sandbox keeps it for
 * its next resume. Returns the current incarnation. */
int sandbox_keepalive(struct host *h, const char *id, int64_t timeout_s, struct sandbox **out,
		      struct thaw_err **err);

/* Replaces the egress policy of a running or paused sandbox (ERR_CONFLICT
 * in other states): recorded, then enforced on its slot at once (a
 * paused one's at its resume). *out: the sandbox, a new reference. */
int sandbox_set_network(struct host *h, const char *id, const struct netpolicy *p,
			struct sandbox **out, struct thaw_err **err);

/* The environment sandbox id gives every command thawd starts in it: a
 * new reference to a JSON object of strings (json_decref), {} when it
 * has none. ERR_NOT_FOUND for an unknown id. For exec, shells and
 * run_code: the command's own env goes on top. */
int sandbox_env_get(struct host *h, const char *id, json_t **env_out, struct thaw_err **err);

/* ---- per-sandbox secrets (ops/clone_hook.c, docs/postgres.md) ---- */

/* What the recipe of template_name says (recipe keys clone_hook,
 * database_*): 1 when it has a clone hook (port 0: no database), else 0. */
struct sb_database {
	char hook[256];
	char user[64], dbname[64];
	uint32_t port;
};
int sandbox_database(struct host *h, const char *template_name, struct sb_database *out);
/* Runs the template's clone hook in the new, running sb with password
 * (NULL: a fresh random one) and keeps it on sb for the answer; 0 at once
 * when the template has none. The caller removes sb on failure. */
int sandbox_clone_hook(struct host *h, struct sandbox *sb, const char *password,
		       struct thaw_err **err);
/* The password the hook set (free it), NULL when none or taken already:
 * only the create or fork answer shows it. */
char *sandbox_take_db_password(struct sandbox *sb);

/* ---- recover (ops/recover.c, issue 17, docs/postgres.md) ---- */

/* 1 when template_name's recipe on this host has a recover command (then
 * *out, when not NULL, is a copy to free), else 0. */
int sandbox_recover_command(struct host *h, const char *template_name, char **out);
/* A failed sandbox whose disk was kept: its template's kernel cold-boots
 * that disk in a new incarnation, the guest agent answers, the recipe's
 * recover command runs, and it is running again (*out: a new reference).
 * ERR_CONFLICT when it is not failed or its disk was not kept;
 * ERR_NOT_FOUND unknown. A failure leaves it failed, its disk kept. */
int sandbox_recover(struct host *h, const char *id, struct sandbox **out, struct thaw_err **err);

/* create.c, for fork children too: records sb (new, identity filled,
 * its place reserved) as creating, starts its VM (core/vmstart.h) and
 * makes it running. On failure nothing of it is left and its place is
 * given back. Takes the creation reference: on success it is the
 * caller's again. */
int sandbox_start_new(struct host *h, struct sandbox *sb, const struct vm_start *vs,
		      struct vm_clock *clk, struct thaw_err **err);

/* Called by the supervisor when a VMM process exits on its own. */
void sandbox_vmm_exited(struct host *h, const char *id);
/* The supervisor acts on an exit only while the sandbox is running: one
 * reported while an operation held it (creating, pausing, resuming) is
 * dropped. The operation calls this once it has made sb running (again),
 * so that a VMM that died meanwhile still makes it failed. */
void sandbox_recheck_vmm(struct host *h, struct sandbox *sb);

/* Deletes running sandboxes whose timeout has passed. */
void sandbox_expire(struct host *h, int64_t now);

#endif
