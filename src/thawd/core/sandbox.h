/* A sandbox: one restored VM with its network slot, disk clone and VMM.
 *
 * Ownership: the registry holds one reference for as long as the sandbox
 * is listed; every operation that works on a sandbox holds its own,
 * taken with registry_get and dropped with sandbox_unref. Resources
 * (VMM process, namespace name, disk clone) are released by delete or by
 * the supervisor when the VMM dies; the struct itself goes with the last
 * reference.
 *
 * Incarnations: a struct sandbox is one life of a sandbox id with one
 * VMM and one slot. Pause and resume end it and list a successor under
 * the same id (sandbox_successor, registry_replace); an operation still
 * holding the old struct sees it "replaced" and looks the id up again.
 * So a slot stays with the struct that used it until its last reference
 * goes, and no operation can reach a slot that was handed on. */
#ifndef THAW_SANDBOX_H
#define THAW_SANDBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/host.h"
#include "guestconn/agentconn.h"
#include "ids.h"
#include "template/build.h"

enum sb_state {
	SB_CREATING,
	SB_RUNNING,
	SB_FAILED,
	SB_DELETING,
	SB_PAUSING,
	SB_PAUSED, /* no VMM, no slot: memory, device state and disk in an image */
	SB_RESUMING,
};

const char *sb_state_name(enum sb_state s);

#define SB_MAX_INFLIGHT 64

struct sandbox {
	char id[SANDBOX_ID_LEN + 1];
	char template_name[64];
	char build_id[48];
	int64_t created_at;
	char *metadata;	 /* JSON object text, immutable */
	char *timings;	 /* JSON object text, set once running */
	char parent[32]; /* forked from; "" if created */
	char owner[KEY_NAME_MAX + 1]; /* the API key that created it; fixed for life */
	/* The image its memory file comes from (a fork's or its own last
	 * pause), "" when it is its template build's. Fixed per incarnation. */
	char image[48];
	bool timeout_pauses; /* on_timeout: pause instead of delete */
	bool auto_resume;    /* a request while paused resumes it */
	uint32_t cpu_millis; /* CPU limit asked at create; 0: its template's vCPUs */

	/* One lifecycle operation (fork, pause, resume, snapshot, delete)
	 * at a time per incarnation; see sandbox_lock_current. */
	pthread_mutex_t op_lock;
	bool replaced; /* guarded by op_lock: a successor is listed */

	pthread_mutex_t lock; /* guards the fields below */
	enum sb_state state;
	char *reason;
	int64_t timeout_at;
	int64_t timeout_s; /* what keepalive and resume restart the deadline with */
	int64_t paused_at;
	/* Sockets of operations talking to the guest now: delete shuts them
	 * down so that nobody waits on a VM that is gone. */
	int inflight[SB_MAX_INFLIGHT];

	struct vmm *vmm;
	/* The network slot outlives the VM until the last reference goes:
	 * an operation still holding this sandbox must never reach a slot
	 * that was handed to another sandbox. */
	struct netslot *slot;
	bool slot_reusable; /* the VM is gone: give the slot back to the pool */
	char *dir;	    /* STORE/sandboxes/<id>: the disk clone */
	char *run_dir;	    /* DATA/run/<id>: QMP socket, VMM log */
	int refs;	    /* guarded by the registry lock */
};

struct sandbox *sandbox_new(struct host *h, const char *id);
void sandbox_ref(struct host *h, struct sandbox *sb);
void sandbox_unref(struct host *h, struct sandbox *sb);

/* Who asks for new sandboxes: the key that will own them and its cap
 * (core/quota.h). */
struct sb_owner {
	const char *name;
	unsigned max_sandboxes; /* 0: only the host's cap */
	bool admin;		/* may create from templates private to other keys */
};

struct create_req {
	const char *template_name;
	struct sb_owner owner;
	int64_t timeout_s;    /* 0 = never */
	const char *metadata; /* JSON object text */
	bool timeout_pauses;
	bool auto_resume;
	/* CPU time per second in 1/1000 of a core, at most the template's
	 * vCPUs' worth; 0: all of them. */
	uint32_t cpu_millis;
	/* Boot the template's kernel and disk instead of restoring its
	 * snapshot: the baseline that restore is measured against, and a
	 * second path that must give the same machine. */
	bool cold_boot;
	/* false: build the network slot and start the VMM now even when the
	 * warm pools have them ready (to measure what the pools save). */
	bool use_pools;
	/* A fork child: restore from this image (loaded: image_build) as a
	 * child of parent, whose template and build it keeps. */
	const char *image;
	const struct template *image_build;
	const char *parent;
	const char *build_id; /* with image: the parent's template build */
	/* A fork child: the fork reserved its place (core/quota.h); a create
	 * that fails gives its place back either way. */
	bool reserved;
};

int sandbox_create(struct host *h, const struct create_req *req, struct sandbox **out,
		   struct thaw_err **err);

/* ERR_NOT_FOUND for an unknown id, ERR_CONFLICT while it is created. */
int sandbox_delete(struct host *h, const char *id, struct thaw_err **err);

/* Runs a command; res is filled on success. A paused sandbox is resumed
 * first when auto_resume (or the sandbox's own setting) says so, and is
 * ERR_CONFLICT otherwise. */
/* What sandbox_exec would say before running anything: 0 when the
 * sandbox runs (or is paused and will be resumed), else why not. */
int sandbox_exec_check(struct host *h, const char *id, bool auto_resume, struct thaw_err **err);
int sandbox_exec(struct host *h, const char *id, const struct agent_exec_req *req, bool auto_resume,
		 struct agent_exec_result *res, struct thaw_err **err);

/* Pause: the guest is captured into an image (memory, device state,
 * disk), its VMM exits and its slot goes back: a paused sandbox costs
 * disk only. Resume restores it from that image, processes and all, with
 * a fresh clock and entropy, and restarts its timeout. Both return the
 * sandbox's new incarnation (a new reference) and are no-ops on a
 * sandbox that is already in the asked-for state. */
int sandbox_pause(struct host *h, const char *id, struct sandbox **out, struct thaw_err **err);
int sandbox_resume(struct host *h, const char *id, struct sandbox **out, struct thaw_err **err);

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

/* ---- for the lifecycle operations (create.c, pause.c, fork.c, ...) ---- */

/* The current incarnation of id with its op_lock held (ERR_NOT_FOUND).
 * Release with sandbox_unlock, which also drops the reference. */
int sandbox_lock_current(struct host *h, const char *id, struct sandbox **out,
			 struct thaw_err **err);
void sandbox_unlock(struct host *h, struct sandbox *sb);

/* A new incarnation of sb: same id and identity, no VMM, no slot. */
struct sandbox *sandbox_successor(struct host *h, const struct sandbox *sb);

/* The build the sandbox's memory file belongs to (its image or its
 * template build), for catalog_put. */
int sandbox_source(struct host *h, const struct sandbox *sb, struct template **out,
		   struct thaw_err **err);

/* Starts sb's VM (sb has none, and no slot) restored from build t: a
 * slot, a disk clone, the VMM, the readiness probe, supervision. Sets
 * sb->timings. On failure the caller releases what sb holds. */
int sandbox_restore_vm(struct host *h, struct sandbox *sb, const struct template *t,
		       struct thaw_err **err);

/* Cuts the sockets of operations talking to the guest (sb->lock held). */
void sandbox_cut_inflight(struct sandbox *sb);

/* Unix seconds timeout_s from now, rounded up; 0 for no timeout. */
int64_t deadline_after(int64_t timeout_s);

/* Registers a socket talking to the guest so that delete and shutdown
 * can cut it; returns its slot in the list, or -1 (sandbox not running,
 * list full). The caller unregisters before closing the fd. */
int sandbox_inflight_add(struct sandbox *sb, int fd, struct thaw_err **err);
void sandbox_inflight_del(struct sandbox *sb, int slot);

/* Called by the supervisor when a VMM process exits on its own. */
void sandbox_vmm_exited(struct host *h, const char *id);
/* The supervisor acts on an exit only while the sandbox is running: one
 * reported while an operation held it (creating, pausing, resuming) is
 * dropped. The operation calls this once it has made sb running (again),
 * so that a VMM that died meanwhile still makes it failed. */
void sandbox_recheck_vmm(struct host *h, struct sandbox *sb);

/* Shutdown: every operation talking to a guest now returns at once with
 * ERR_UNAVAILABLE (the commands are killed in their guests); the
 * sandboxes themselves keep running for the next thawd to adopt. */
void sandbox_interrupt_all(struct host *h);

/* Deletes running sandboxes whose timeout has passed. */
void sandbox_expire(struct host *h, int64_t now);

/* Releases the VMM, namespace, disk clone and run directory (the parts
 * that exist). Shared by delete, failure and restart reconciliation. */
void sandbox_release(struct host *h, struct sandbox *sb);

#endif
