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
#include "core/sbstate.h"
#include "ids.h"
#include "template/build.h"

struct agent_conn;

struct sandbox {
	char id[SANDBOX_ID_LEN + 1];
	char template_name[64];
	char build_id[48];
	int64_t created_at;
	char *metadata;	 /* JSON object text, immutable */
	char *timings;	 /* JSON object text, set once running */
	char parent[32]; /* forked from; "" if created */
	char owner[KEY_NAME_MAX + 1]; /* the API key that created it; fixed for life */
	char idem[IDEM_KEY_MAX + 1];  /* its create's Idempotency-Key; "" if none */
	/* The image its memory file comes from (a fork's or its own last
	 * pause), "" when it is its template build's. Fixed per incarnation. */
	char image[48];
	bool timeout_pauses; /* on_timeout: pause instead of delete */
	bool auto_resume;    /* a request while paused resumes it */
	uint32_t cpu_millis; /* CPU limit asked at create; 0: its template's vCPUs */
	/* Environment of every command thawd starts in it: a JSON object of
	 * strings, immutable; NULL: none. Fork children inherit it. */
	char *env;

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
	/* The database password the clone hook set, until the create or
	 * fork answer takes it (ops/clone_hook.c); never stored. */
	char *db_password;
	/* Its egress policy (net/netpolicy.h), owned, never NULL once the
	 * sandbox is listed; replaced whole (sandbox_set_network) and read
	 * under this lock. The row holds it first; a slot holds it while the
	 * sandbox runs. */
	struct netpolicy *netpolicy;
	/* Sockets of operations talking to the guest now: delete shuts them
	 * down so that nobody waits on a VM that is gone. It grows as needed
	 * (a database's hundred clients are a hundred tunnels): the only
	 * ceiling is the host's descriptors. Free entries are -1. */
	int *inflight;
	size_t inflight_cap;
	/* Raw TCP relays to the guest now (ops/tunnel.c), also in inflight. */
	int open_tunnels;
	/* A connection to its guest agent between two calls: the next call
	 * takes it instead of connecting (a TCP handshake and the agent's
	 * accept and close: about 0.8 ms of an exec under TCG). One serves
	 * sequential calls, and it is a descriptor in thawd
	 * (FDLIMIT_PER_SANDBOX counts it). Only this incarnation's VMM ever
	 * saw it; reset when the sandbox is freed. NULL: none parked. */
	struct agent_conn *idle_conn;

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
/* The sandbox's first row, in its current state (creating for a create,
 * paused for an adopted one): before anything of it exists, so that a
 * restart finds whatever a crash left. */
int sandbox_insert_row(struct host *h, const struct sandbox *sb, struct thaw_err **err);
void sandbox_ref(struct host *h, struct sandbox *sb);
void sandbox_unref(struct host *h, struct sandbox *sb);

/* ---- state: the one way it changes (core/sbstate.h has the table) ---- */

/* What changes, and what the database records along with it. */
struct sb_change {
	enum sb_state to;
	const char *reason; /* why (to failed), kept on the sandbox */
	/* creating or resuming -> running: the VM it now runs in */
	const struct vmm *vmm;
	const struct netslot *slot;
	const char *timings;	/* creating -> running: the create's stages */
	int64_t timeout_at;	/* resuming -> running: its new deadline */
	const char *image;	/* pausing -> paused: where it is now */
	int64_t paused_at;	/* pausing -> paused */
};

enum sb_state sandbox_state(struct sandbox *sb);
/* Changes sb's state: ERR_CONFLICT (naming both states) unless the table
 * allows it; the row first, then sb, under sb->lock (two changes of one
 * sandbox never interleave). Leaving "running" cuts the requests talking
 * to its guest (sandbox_cut_inflight). The _from variant changes it only
 * from `expect` (the supervisor's "running -> failed", which must not
 * touch a sandbox an operation holds in another state). */
int sandbox_set_state(struct host *h, struct sandbox *sb, const struct sb_change *c,
		      struct thaw_err **err);
int sandbox_set_state_from(struct host *h, struct sandbox *sb, enum sb_state expect,
			   const struct sb_change *c, struct thaw_err **err);

/* ---- for the operations (ops/) ---- */

/* The current incarnation of id with its op_lock held (ERR_NOT_FOUND).
 * Release with sandbox_unlock, which also drops the reference. */
int sandbox_lock_current(struct host *h, const char *id, struct sandbox **out,
			 struct thaw_err **err);
void sandbox_unlock(struct host *h, struct sandbox *sb);
/* sandbox_lock_current, for operations that need it in one of states
 * (SB_BIT(SB_RUNNING) | ...): ERR_CONFLICT, naming its state, and nothing
 * held otherwise. *state (if not NULL): the state it was found in. */
#define SB_BIT(s) (1u << (s))
int sandbox_lock_in(struct host *h, const char *id, unsigned states, struct sandbox **out,
		    enum sb_state *state, struct thaw_err **err);
/* sandbox_lock_in for the running state only (fork, export). */
int sandbox_lock_running(struct host *h, const char *id, struct sandbox **out,
			 struct thaw_err **err);

/* A copy of sb's egress policy (netpolicy_free), the default when it
 * has none. */
struct netpolicy *sandbox_netpolicy(struct sandbox *sb);

/* sb's successor is listed in its place (registry_replace): operations
 * still holding sb look the id up again. Its op_lock is held. */
void sandbox_retire(struct sandbox *sb);

/* A new incarnation of sb: same id and identity, no VMM, no slot. */
struct sandbox *sandbox_successor(struct host *h, const struct sandbox *sb);

/* The build the sandbox's memory file belongs to (its image or its
 * template build), for catalog_put. */
int sandbox_source(struct host *h, const struct sandbox *sb, struct template **out,
		   struct thaw_err **err);

/* Cuts the sockets of operations talking to the guest (sb->lock held). */
void sandbox_cut_inflight(struct sandbox *sb);

/* Unix seconds timeout_s from now, rounded up; 0 for no timeout. */
int64_t deadline_after(int64_t timeout_s);

/* Registers a socket talking to the guest so that delete and shutdown
 * can cut it; returns its slot in the list, or -1 (sandbox not running). The caller unregisters before closing the fd. */
int sandbox_inflight_add(struct sandbox *sb, int fd, struct thaw_err **err);
/* A parked connection to the guest agent that still looks open, or NULL
 * (then connect). Taken only while the sandbox runs. */
struct agent_conn *sandbox_agent_take(struct sandbox *sb);
/* Parks c for the next call when it is idle (its last request fully
 * answered, nothing unread) and the sandbox runs, else closes it. */
void sandbox_agent_park(struct sandbox *sb, struct agent_conn *c);
void sandbox_inflight_del(struct sandbox *sb, int slot);

/* Shutdown: every operation talking to a guest now returns at once with
 * ERR_UNAVAILABLE (the commands are killed in their guests); the
 * sandboxes themselves keep running for the next thawd to adopt. */
void sandbox_interrupt_all(struct host *h);

/* Releases the VMM, namespace, disk clone and run directory (the parts
 * that exist). Shared by delete, failure and restart reconciliation. */
void sandbox_release(struct host *h, struct sandbox *sb);
/* Issue 17 (recover): sandbox_release except the disk clone, which stays
 * (and counts in the store) for POST /v1/sandboxes/{id}/recover or the
 * delete. */
void sandbox_release_keep_disk(struct host *h, struct sandbox *sb);
/* Whether sb's disk clone is there (a failed sandbox's was kept). */
bool sandbox_disk_kept(const struct sandbox *sb);

#endif
