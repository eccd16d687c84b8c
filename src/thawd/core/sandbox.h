/* A sandbox: one restored VM with its network slot, disk clone and VMM.
 *
 * Ownership: the registry holds one reference for as long as the sandbox
 * is listed; every operation that works on a sandbox holds its own,
 * taken with registry_get and dropped with sandbox_unref. Resources
 * (VMM process, namespace name, disk clone) are released by delete or by
 * the supervisor when the VMM dies; the struct itself goes with the last
 * reference. */
#ifndef THAW_SANDBOX_H
#define THAW_SANDBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/host.h"
#include "guestconn/agentconn.h"
#include "ids.h"

enum sb_state { SB_CREATING, SB_RUNNING, SB_FAILED, SB_DELETING };

const char *sb_state_name(enum sb_state s);

#define SB_MAX_INFLIGHT 64

struct sandbox {
	char id[SANDBOX_ID_LEN + 1];
	char template_name[64];
	char build_id[48];
	int64_t created_at;
	char *metadata; /* JSON object text, immutable */
	char *timings;	/* JSON object text, set once running */

	pthread_mutex_t lock; /* guards the fields below */
	enum sb_state state;
	char *reason;
	int64_t timeout_at;
	/* Sockets of operations talking to the guest now: delete shuts them
	 * down so that nobody waits on a VM that is gone. */
	int inflight[SB_MAX_INFLIGHT];

	struct vmm *vmm;
	/* The network slot outlives the VM until the last reference goes:
	 * an operation still holding this sandbox must never reach a slot
	 * that was handed to another sandbox. */
	struct netslot *slot;
	bool slot_reusable; /* the VM is gone: give the slot back to the pool */
	char *dir;     /* STORE/sandboxes/<id>: the disk clone */
	char *run_dir; /* DATA/run/<id>: QMP socket, VMM log */
	int refs;      /* guarded by the registry lock */
};

struct sandbox *sandbox_new(struct host *h, const char *id);
void sandbox_ref(struct host *h, struct sandbox *sb);
void sandbox_unref(struct host *h, struct sandbox *sb);

struct create_req {
	const char *template_name;
	int64_t timeout_s; /* 0 = never */
	const char *metadata; /* JSON object text */
	/* Boot the template's kernel and disk instead of restoring its
	 * snapshot: the baseline that restore is measured against, and a
	 * second path that must give the same machine. */
	bool cold_boot;
	/* false: build the network slot and start the VMM now even when the
	 * warm pools have them ready (to measure what the pools save). */
	bool use_pools;
};

int sandbox_create(struct host *h, const struct create_req *req, struct sandbox **out,
		   struct thaw_err **err);

/* ERR_NOT_FOUND for an unknown id, ERR_CONFLICT while it is created. */
int sandbox_delete(struct host *h, const char *id, struct thaw_err **err);

/* Runs a command; res is filled on success. */
int sandbox_exec(struct host *h, const char *id, const struct agent_exec_req *req,
		 struct agent_exec_result *res, struct thaw_err **err);

/* Registers a socket talking to the guest so that delete and shutdown
 * can cut it; returns its slot in the list, or -1 (sandbox not running,
 * list full). The caller unregisters before closing the fd. */
int sandbox_inflight_add(struct sandbox *sb, int fd, struct thaw_err **err);
void sandbox_inflight_del(struct sandbox *sb, int slot);

/* Called by the supervisor when a VMM process exits on its own. */
void sandbox_vmm_exited(struct host *h, const char *id);

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
