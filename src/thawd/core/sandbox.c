/* Sandbox basics: references, incarnations, delete, exec, keepalive,
 * timeouts, and what happens when a VMM dies on its own. Create is in
 * create.c; pause and resume in pause.c; fork in fork.c; snapshot in
 * snapshot.c. */
#include "core/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "core/images.h"
#include "core/registry.h"
#include "core/slotpool.h"
#include "core/supervisor.h"
#include "db/db.h"
#include "fsutil.h"
#include "guestconn/agent.h"
#include "log.h"
#include "net/netpolicy.h"
#include "net/slot.h"
#include "template/catalog.h"
#include "timeutil.h"

#define READY_TIMEOUT_MS 10000

enum sb_state sandbox_state(struct sandbox *sb)
{
	pthread_mutex_lock(&sb->lock);
	enum sb_state s = sb->state;
	pthread_mutex_unlock(&sb->lock);
	return s;
}

/* The row's side of a change: what the database records with it. */
static int write_row(struct host *h, const char *id, enum sb_state from,
		     const struct sb_change *c, struct thaw_err **err)
{
	if (from == SB_CREATING && c->to == SB_RUNNING)
		return db_sandbox_set_running(h->db, id, c->vmm->pid, c->vmm->start_ticks,
					      c->slot->index, c->timings, err);
	if ((from == SB_RESUMING || from == SB_RECOVERING) && c->to == SB_RUNNING)
		return db_sandbox_set_resumed(h->db, id, c->vmm->pid, c->vmm->start_ticks,
					      c->slot->index, c->timeout_at, err);
	if (from == SB_PAUSING && c->to == SB_PAUSED)
		return db_sandbox_set_paused(h->db, id, c->image, c->paused_at, err);
	return db_sandbox_set_state(h->db, id, sb_state_name(c->to), c->reason, err);
}

static int change_state(struct host *h, struct sandbox *sb, const enum sb_state *expect,
			const struct sb_change *c, struct thaw_err **err)
{
	pthread_mutex_lock(&sb->lock);
	enum sb_state from = sb->state;
	int rc = 0;
	if ((expect && from != *expect) || !sb_state_may_become(from, c->to))
		rc = err_set(err, ERR_CONFLICT, "sandbox %s is %s, not to become %s", sb->id,
			     sb_state_name(from), sb_state_name(c->to));
	else
		rc = write_row(h, sb->id, from, c, err);
	if (rc == 0) {
		sb->state = c->to;
		if (c->reason) {
			free(sb->reason);
			sb->reason = xstrdup(c->reason);
		}
		/* Requests talking to its guest end with it: they would
		 * otherwise wait on a VM that is stopping or gone. */
		if (from == SB_RUNNING)
			sandbox_cut_inflight(sb);
	}
	pthread_mutex_unlock(&sb->lock);
	return rc;
}

int sandbox_set_state(struct host *h, struct sandbox *sb, const struct sb_change *c,
		      struct thaw_err **err)
{
	return change_state(h, sb, NULL, c, err);
}

int sandbox_set_state_from(struct host *h, struct sandbox *sb, enum sb_state expect,
			   const struct sb_change *c, struct thaw_err **err)
{
	return change_state(h, sb, &expect, c, err);
}

struct netpolicy *sandbox_netpolicy(struct sandbox *sb)
{
	pthread_mutex_lock(&sb->lock);
	struct netpolicy *p = sb->netpolicy ? netpolicy_copy(sb->netpolicy) : netpolicy_default();
	pthread_mutex_unlock(&sb->lock);
	return p;
}

void sandbox_retire(struct sandbox *sb)
{
	sb->replaced = true;
}

int sandbox_insert_row(struct host *h, const struct sandbox *sb, struct thaw_err **err)
{
	struct sandbox_row row = { .created_at = sb->created_at,
				   .timeout_at = sb->timeout_at,
				   .metadata = sb->metadata,
				   .slot = -1, /* recorded once running */
				   .timeout_s = sb->timeout_s,
				   .auto_resume = sb->auto_resume,
				   .cpu_millis = sb->cpu_millis,
				   .paused_at = sb->paused_at,
				   .env = sb->env };
	_cleanup_free_ char *network = sb->netpolicy ? netpolicy_to_text(sb->netpolicy) : NULL;
	row.network = network;
	snprintf(row.id, sizeof(row.id), "%s", sb->id);
	snprintf(row.template_name, sizeof(row.template_name), "%s", sb->template_name);
	snprintf(row.build_id, sizeof(row.build_id), "%s", sb->build_id);
	snprintf(row.state, sizeof(row.state), "%s", sb_state_name(sb->state));
	snprintf(row.parent, sizeof(row.parent), "%s", sb->parent);
	snprintf(row.owner, sizeof(row.owner), "%s", sb->owner);
	snprintf(row.idem, sizeof(row.idem), "%s", sb->idem);
	snprintf(row.image, sizeof(row.image), "%s", sb->image);
	snprintf(row.on_timeout, sizeof(row.on_timeout), "%s",
		 sb->timeout_pauses ? "pause" : "delete");
	return db_sandbox_insert(h->db, &row, err);
}

struct sandbox *sandbox_new(struct host *h, const char *id)
{
	struct sandbox *sb = xcalloc(1, sizeof(*sb));
	snprintf(sb->id, sizeof(sb->id), "%s", id);
	pthread_mutex_init(&sb->lock, NULL);
	pthread_mutex_init(&sb->op_lock, NULL);
	sb->dir = xasprintf("%s/%s", h->sandboxes_dir, id);
	sb->run_dir = xasprintf("%s/run/%s", h->cfg->data_dir, id);
	sb->refs = 1;
	return sb;
}

void sandbox_ref(struct host *h, struct sandbox *sb)
{
	registry_lock(h);
	sb->refs++;
	registry_unlock(h);
}

void sandbox_unref(struct host *h, struct sandbox *sb)
{
	if (!sb)
		return;
	registry_lock(h);
	int left = --sb->refs;
	registry_unlock(h);
	if (left > 0)
		return;
	/* The parked agent connection goes with a reset: the VM may be gone and
	 * its slot about to serve another sandbox, which no retransmitted
	 * FIN of ours may reach. */
	agent_abort(sb->idle_conn);
	vmm_free(sb->vmm);
	if (sb->slot && sb->slot_reusable)
		slotpool_give(h->slots, sb->slot);
	else
		netslot_close(sb->slot); /* the VM runs on, for the next thawd */
	free(sb->metadata);
	free(sb->env);
	if (sb->db_password)
		explicit_bzero(sb->db_password, strlen(sb->db_password));
	free(sb->db_password);
	netpolicy_free(sb->netpolicy);
	free(sb->timings);
	free(sb->reason);
	free(sb->dir);
	free(sb->run_dir);
	free(sb->inflight);
	pthread_mutex_destroy(&sb->lock);
	pthread_mutex_destroy(&sb->op_lock);
	free(sb);
}

struct sandbox *sandbox_successor(struct host *h, const struct sandbox *sb)
{
	struct sandbox *n = sandbox_new(h, sb->id);
	memcpy(n->template_name, sb->template_name, sizeof(n->template_name));
	memcpy(n->build_id, sb->build_id, sizeof(n->build_id));
	memcpy(n->parent, sb->parent, sizeof(n->parent));
	memcpy(n->owner, sb->owner, sizeof(n->owner));
	memcpy(n->image, sb->image, sizeof(n->image));
	n->created_at = sb->created_at;
	n->metadata = xstrdup(sb->metadata);
	n->env = sb->env ? xstrdup(sb->env) : NULL;
	n->netpolicy = sandbox_netpolicy((struct sandbox *)sb); /* takes its lock only */
	n->timings = sb->timings ? xstrdup(sb->timings) : NULL;
	n->timeout_pauses = sb->timeout_pauses;
	n->auto_resume = sb->auto_resume;
	n->cpu_millis = sb->cpu_millis;
	n->timeout_s = sb->timeout_s;
	return n;
}

int sandbox_lock_current(struct host *h, const char *id, struct sandbox **out,
			 struct thaw_err **err)
{
	for (;;) {
		struct sandbox *sb = registry_get(h, id);
		if (!sb)
			return err_set(err, ERR_NOT_FOUND, "sandbox %s does not exist", id);
		pthread_mutex_lock(&sb->op_lock);
		if (!sb->replaced) {
			*out = sb;
			return 0;
		}
		pthread_mutex_unlock(&sb->op_lock);
		sandbox_unref(h, sb);
	}
}

void sandbox_unlock(struct host *h, struct sandbox *sb)
{
	pthread_mutex_unlock(&sb->op_lock);
	sandbox_unref(h, sb);
}

int sandbox_lock_in(struct host *h, const char *id, unsigned states, struct sandbox **out,
		    enum sb_state *state, struct thaw_err **err)
{
	struct sandbox *sb;
	if (sandbox_lock_current(h, id, &sb, err) < 0)
		return -1;
	enum sb_state found = sandbox_state(sb);
	if (!(states & SB_BIT(found))) {
		sandbox_unlock(h, sb);
		return err_set(err, ERR_CONFLICT, "sandbox %s is %s", id, sb_state_name(found));
	}
	if (state)
		*state = found;
	*out = sb;
	return 0;
}

int sandbox_lock_running(struct host *h, const char *id, struct sandbox **out,
			 struct thaw_err **err)
{
	return sandbox_lock_in(h, id, SB_BIT(SB_RUNNING), out, NULL, err);
}

int sandbox_source(struct host *h, const struct sandbox *sb, struct template **out,
		   struct thaw_err **err)
{
	if (sb->image[0])
		return image_load(h, sb->image, out, err);
	return catalog_get_build(h->catalog, sb->template_name, sb->build_id, out, err);
}

void sandbox_release(struct host *h, struct sandbox *sb)
{
	if (h->sup)
		supervisor_unwatch(h->sup, sb->id);
	if (sb->vmm)
		vmm_kill(sb->vmm);
	sb->slot_reusable = true;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (fs_rm_rf(sb->dir, &err) < 0 || fs_rm_rf(sb->run_dir, &err) < 0)
		log_warn("sandbox.release", "id=%s error=\"%s\"", sb->id, err_msg(err));
}

void sandbox_release_keep_disk(struct host *h, struct sandbox *sb)
{
	if (h->sup)
		supervisor_unwatch(h->sup, sb->id);
	if (sb->vmm)
		vmm_kill(sb->vmm);
	sb->slot_reusable = true;
	/* A cold-booted VM's memory file is no part of what is kept. */
	_cleanup_free_ char *mem = xasprintf("%s/memory.bin", sb->dir);
	unlink(mem);
	_cleanup_err_ struct thaw_err *err = NULL;
	if (fs_rm_rf(sb->run_dir, &err) < 0)
		log_warn("sandbox.release", "id=%s error=\"%s\"", sb->id, err_msg(err));
}

bool sandbox_disk_kept(const struct sandbox *sb)
{
	_cleanup_free_ char *disk = xasprintf("%s/rootfs.img", sb->dir);
	return fs_exists(disk);
}

/* ---- delete ---------------------------------------------------------- */

void sandbox_cut_inflight(struct sandbox *sb)
{
	for (size_t i = 0; i < sb->inflight_cap; i++)
		if (sb->inflight[i] >= 0)
			shutdown(sb->inflight[i], SHUT_RDWR);
}

int64_t deadline_after(int64_t timeout_s)
{
	if (!timeout_s)
		return 0;
	/* Whole seconds, rounded up: a timeout may fire late by the
	 * janitor's tick, never early. */
	uint64_t deadline = time_real_ns() + (uint64_t)timeout_s * 1000000000ull;
	return (int64_t)((deadline + 999999999ull) / 1000000000ull);
}

/* ---- exec ------------------------------------------------------------ */

/* A free entry of sb's in-flight list, doubling it when full (sb->lock
 * held). Entries never move, so a slot number stays valid. */
static int inflight_free_slot(struct sandbox *sb)
{
	for (size_t i = 0; i < sb->inflight_cap; i++)
		if (sb->inflight[i] < 0)
			return (int)i;
	size_t old = sb->inflight_cap, cap = old ? old * 2 : 16;
	sb->inflight = xrealloc(sb->inflight, cap * sizeof(*sb->inflight));
	for (size_t i = old; i < cap; i++)
		sb->inflight[i] = -1;
	sb->inflight_cap = cap;
	return (int)old;
}

int sandbox_inflight_add(struct sandbox *sb, int fd, struct thaw_err **err)
{
	pthread_mutex_lock(&sb->lock);
	int slot = -1;
	if (sb->state == SB_RUNNING) {
		slot = inflight_free_slot(sb);
		sb->inflight[slot] = fd;
	}
	enum sb_state state = sb->state;
	pthread_mutex_unlock(&sb->lock);
	if (slot >= 0)
		return slot;
	return err_set(err, ERR_CONFLICT, "sandbox %s is %s", sb->id, sb_state_name(state));
}

void sandbox_inflight_del(struct sandbox *sb, int slot)
{
	pthread_mutex_lock(&sb->lock);
	sb->inflight[slot] = -1;
	pthread_mutex_unlock(&sb->lock);
}

struct agent_conn *sandbox_agent_take(struct sandbox *sb)
{
	struct agent_conn *c = NULL;
	pthread_mutex_lock(&sb->lock);
	if (sb->state == SB_RUNNING) {
		c = sb->idle_conn;
		sb->idle_conn = NULL;
	}
	pthread_mutex_unlock(&sb->lock);
	/* The guest may have closed it since (its agent drops idle host
	 * connections when its table is full). */
	if (c && !agent_conn_idle(c)) {
		agent_close(c);
		return NULL;
	}
	if (c)
		agent_conn_reuse(c);
	return c;
}

void sandbox_agent_park(struct sandbox *sb, struct agent_conn *c)
{
	if (!c)
		return;
	if (agent_conn_idle(c)) {
		pthread_mutex_lock(&sb->lock);
		/* Starting: the readiness probe's connection, for the first call. */
		bool starting = sb->state == SB_CREATING || sb->state == SB_RESUMING ||
				sb->state == SB_RECOVERING;
		bool parked = (sb->state == SB_RUNNING || starting) && !sb->idle_conn;
		if (parked)
			sb->idle_conn = c;
		pthread_mutex_unlock(&sb->lock);
		if (parked)
			return;
	}
	agent_close(c);
}

/* ---- VMM death and timeouts ----------------------------------------- */

void sandbox_interrupt_all(struct host *h)
{
	__atomic_store_n(&h->stopping, true, __ATOMIC_RELEASE);
	size_t n;
	struct sandbox **list = registry_list(h, &n);
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&list[i]->lock);
		sandbox_cut_inflight(list[i]);
		pthread_mutex_unlock(&list[i]->lock);
	}
	registry_list_free(h, list, n);
}
