#include "core/vmmpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cleanup.h"
#include "core/capacity.h"
#include "core/host.h"
#include "core/launch.h"
#include "core/slotpool.h"
#include "core/stats.h"
#include "fsutil.h"
#include "log.h"
#include "template/catalog.h"
#include "vmm/vmm.h"

#define CHECK_EVERY_S 2 /* health check of pooled VMMs and template builds */

struct vmmpool {
	struct host *h;
	unsigned depth;
	bool restore_ahead;
	uint64_t min_free_bytes;
	pthread_t thread;
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t wake;
	bool stop, poked;
	struct pooled_vmm **items;
	size_t n;
	char building[SANDBOX_ID_LEN + 1]; /* the entry being started, "" if none */
	uint64_t taken, started, discarded;
	bool low_memory_logged;
};

static char *entry_dir(struct host *h, const char *id)
{
	return xasprintf("%s/%s", h->sandboxes_dir, id);
}

static char *entry_run_dir(struct host *h, const char *id)
{
	return xasprintf("%s/run/%s", h->cfg->data_dir, id);
}

void pooled_vmm_free(struct pooled_vmm *pv)
{
	free(pv);
}

/* Kills the VMM and gives everything back. */
static void discard(struct vmmpool *p, struct pooled_vmm *pv)
{
	struct host *h = p->h;
	if (pv->vmm) {
		vmm_kill(pv->vmm);
		vmm_free(pv->vmm);
	}
	slotpool_give(h->slots, pv->slot);
	_cleanup_free_ char *dir = entry_dir(h, pv->id);
	_cleanup_free_ char *run = entry_run_dir(h, pv->id);
	fs_rm_rf(dir, NULL);
	fs_rm_rf(run, NULL);
	pooled_vmm_free(pv);
	pthread_mutex_lock(&p->lock);
	p->discarded++;
	pthread_mutex_unlock(&p->lock);
}

/* Starts one entry for t; NULL on failure (logged). */
static struct pooled_vmm *start_one(struct vmmpool *p, const struct template *t)
{
	struct host *h = p->h;
	_cleanup_err_ struct thaw_err *err = NULL;
	struct pooled_vmm *pv = xcalloc(1, sizeof(*pv));
	id_new_sandbox(pv->id);
	pthread_mutex_lock(&p->lock);
	memcpy(p->building, pv->id, sizeof(p->building));
	pthread_mutex_unlock(&p->lock);
	snprintf(pv->template_name, sizeof(pv->template_name), "%s", t->name);
	snprintf(pv->build_id, sizeof(pv->build_id), "%s", t->build_id);
	_cleanup_free_ char *dir = entry_dir(h, pv->id);
	_cleanup_free_ char *run = entry_run_dir(h, pv->id);
	bool warm;
	struct launch_target lt = { .id = pv->id, .dir = dir, .run_dir = run };
	if (slotpool_take(h->slots, true, &pv->slot, &warm, &err) < 0)
		goto fail;
	lt.slot = pv->slot;
	if (launch_clone_disk(h, t, dir, &err) < 0 || launch_prepare(h, t, &lt, &pv->vmm, &err) < 0)
		goto fail;
	if (p->restore_ahead) {
		/* The same restore a create would do, and a first probe: it
		 * also warms the emulator's code cache for the probe path. */
		struct vmm_timings tm;
		if (h->drv->load(pv->vmm, &tm, &err) < 0 ||
		    launch_probe_new(pv->slot, pv->vmm, pv->id, false, NULL, NULL, &err) < 0 ||
		    launch_first_command(pv->slot, pv->vmm, &err) < 0)
			goto fail;
		pv->restored = true;
		/* Exactly what an idle sandbox holds: the host's admission
		 * goes by it (core/capacity.h). */
		capacity_observe(h->capacity, pv->vmm->pid);
	}
	return pv;
fail:
	log_warn("vmmpool.start", "template=%s error=\"%s\"", t->name, err_msg(err));
	discard(p, pv);
	return NULL;
}

static size_t count_for(struct vmmpool *p, const char *name, const char *build)
{
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->items[i]->template_name, name) && !strcmp(p->items[i]->build_id, build))
			k++;
	return k;
}

/* Entries of builds that are no longer current, or whose VMM died. */
static void prune(struct vmmpool *p, const struct template_info *ti, size_t nti)
{
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n;) {
		struct pooled_vmm *pv = p->items[i];
		bool current = false;
		for (size_t k = 0; k < nti && !current; k++)
			current = !strcmp(ti[k].status, "ready") &&
				  !strcmp(ti[k].name, pv->template_name) &&
				  !strcmp(ti[k].build_id, pv->build_id);
		if (current && !vmm_exited(pv->vmm)) {
			i++;
			continue;
		}
		p->items[i] = p->items[--p->n];
		pthread_mutex_unlock(&p->lock);
		log_info("vmmpool.discard", "id=%s template=%s reason=%s", pv->id, pv->template_name,
			 current ? "vmm_exited" : "stale_build");
		discard(p, pv);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
}

/* The first ready template short of entries; false when all are full. */
static bool pick(struct vmmpool *p, const struct template_info *ti, size_t nti, char *name,
		 size_t size)
{
	pthread_mutex_lock(&p->lock);
	bool found = false;
	for (size_t k = 0; k < nti && !found; k++) {
		if (strcmp(ti[k].status, "ready") != 0 ||
		    count_for(p, ti[k].name, ti[k].build_id) >= p->depth)
			continue;
		snprintf(name, size, "%s", ti[k].name);
		found = true;
	}
	pthread_mutex_unlock(&p->lock);
	return found;
}

static bool memory_allows(struct vmmpool *p)
{
	bool ok = mem_available_bytes() >= p->min_free_bytes;
	if (!ok && !p->low_memory_logged)
		log_warn("vmmpool.memory", "available_below_mb=%llu: not starting warm VMMs",
			 (unsigned long long)(p->min_free_bytes >> 20));
	p->low_memory_logged = !ok;
	return ok;
}

/* One round: prune, then start at most one entry. True if it started one. */
static bool refill_round(struct vmmpool *p)
{
	struct host *h = p->h;
	struct template_info *ti = NULL;
	size_t nti = 0;
	if (catalog_list(h->catalog, &ti, &nti, NULL) < 0)
		return false;
	prune(p, ti, nti);
	char name[64];
	bool started = false;
	struct template *t = NULL;
	if (pick(p, ti, nti, name, sizeof(name)) && memory_allows(p) &&
	    catalog_get(h->catalog, name, &t, NULL) == 0) {
		struct pooled_vmm *pv = start_one(p, t);
		catalog_put(h->catalog, t);
		pthread_mutex_lock(&p->lock);
		p->building[0] = '\0';
		if (pv) {
			p->items = xrealloc(p->items, (p->n + 1) * sizeof(*p->items));
			p->items[p->n++] = pv;
			p->started++;
			started = true;
			stats_pool_refill("vmm", name);
		}
		pthread_mutex_unlock(&p->lock);
	}
	free(ti);
	return started;
}

static void wait_a_while(struct vmmpool *p)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += CHECK_EVERY_S;
	pthread_mutex_lock(&p->lock);
	while (!p->stop && !p->poked &&
	       pthread_cond_timedwait(&p->wake, &p->lock, &until) != ETIMEDOUT)
		;
	p->poked = false;
	pthread_mutex_unlock(&p->lock);
}

static void *refill_main(void *arg)
{
	struct vmmpool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		bool stop = p->stop;
		pthread_mutex_unlock(&p->lock);
		if (stop)
			return NULL;
		if (__atomic_load_n(&p->h->stopping, __ATOMIC_ACQUIRE) || !refill_round(p))
			wait_a_while(p);
	}
}

int vmmpool_start(struct host *h, unsigned depth, bool restore_ahead, unsigned min_free_mb,
		  struct vmmpool **out, struct thaw_err **err)
{
	struct vmmpool *p = xcalloc(1, sizeof(*p));
	p->h = h;
	p->depth = depth;
	p->restore_ahead = restore_ahead;
	p->min_free_bytes = (uint64_t)min_free_mb << 20;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (depth > 0) {
		int rc = pthread_create(&p->thread, NULL, refill_main, p);
		if (rc != 0) {
			errno = rc;
			free(p);
			return err_sys(err, "starting the VMM pool");
		}
	}
	*out = p;
	return 0;
}

struct pooled_vmm *vmmpool_take(struct vmmpool *p, const char *template_name,
				const char *build_id)
{
	struct pooled_vmm *found = NULL;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n && !found; i++) {
		struct pooled_vmm *pv = p->items[i];
		if (strcmp(pv->template_name, template_name) || strcmp(pv->build_id, build_id) ||
		    vmm_exited(pv->vmm))
			continue;
		found = pv;
		p->items[i] = p->items[--p->n];
		p->taken++;
	}
	p->poked = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	return found;
}

void vmmpool_poke(struct vmmpool *p)
{
	pthread_mutex_lock(&p->lock);
	p->poked = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

void vmmpool_stats(struct vmmpool *p, struct vmmpool_stats *out)
{
	pthread_mutex_lock(&p->lock);
	*out = (struct vmmpool_stats){ .depth = p->depth,
				       .ready = (unsigned)p->n,
				       .taken = p->taken,
				       .started = p->started,
				       .discarded = p->discarded };
	pthread_mutex_unlock(&p->lock);
}

unsigned vmmpool_ready_for(struct vmmpool *p, const char *template_name)
{
	unsigned k = 0;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n; i++)
		k += strcmp(p->items[i]->template_name, template_name) == 0;
	pthread_mutex_unlock(&p->lock);
	return k;
}

char (*vmmpool_ids(struct vmmpool *p, size_t *n))[SANDBOX_ID_LEN + 1]
{
	pthread_mutex_lock(&p->lock);
	char(*ids)[SANDBOX_ID_LEN + 1] = xcalloc(p->n + 1, sizeof(*ids));
	for (size_t i = 0; i < p->n; i++)
		memcpy(ids[i], p->items[i]->id, sizeof(ids[i]));
	*n = p->n;
	if (p->building[0])
		memcpy(ids[(*n)++], p->building, sizeof(ids[0]));
	pthread_mutex_unlock(&p->lock);
	return ids;
}

void vmmpool_stop(struct vmmpool *p)
{
	if (!p)
		return;
	if (p->depth > 0) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_cond_signal(&p->wake);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
	}
	for (size_t i = 0; i < p->n; i++)
		discard(p, p->items[i]);
	free(p->items);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
