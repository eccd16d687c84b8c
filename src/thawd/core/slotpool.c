#include "core/slotpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "core/host.h"
#include "core/stats.h"
#include "db/db.h"
#include "log.h"
#include "net/slot.h"

struct slotpool {
	struct host *h;
	struct slot_host sh;
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t wake;
	pthread_t thread;
	bool running, stop;
	unsigned depth;
	uint8_t *allocated; /* per index: 0 free, 1 allocated */
	uint8_t *attached;  /* start-up only: kept by an adopted sandbox */
	struct netslot **warm;
	size_t nwarm;
	struct netslot **dirty; /* given back, waiting for a reset */
	size_t ndirty;
	unsigned in_use;
	uint64_t taken_warm, taken_cold, reused;
};

static void load_index(uint32_t index, void *ud)
{
	struct slotpool *p = ud;
	if (index < p->sh.range->capacity)
		p->allocated[index] = 1;
}

int slotpool_open(struct host *h, struct slotpool **out, struct thaw_err **err)
{
	struct slotpool *p = xcalloc(1, sizeof(*p));
	p->h = h;
	p->sh = (struct slot_host){ .range = &h->slot_range,
				    .ns_prefix = h->ns_prefix,
				    .if_prefix = h->if_prefix };
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	p->allocated = xcalloc(h->slot_range.capacity, 1);
	p->attached = xcalloc(h->slot_range.capacity, 1);
	if (db_slot_each(h->db, load_index, p, err) < 0) {
		slotpool_close(p);
		return -1;
	}
	*out = p;
	return 0;
}

/* Lowest free index, recorded in the database before anyone uses it. */
static int index_alloc(struct slotpool *p, uint32_t *out, struct thaw_err **err)
{
	pthread_mutex_lock(&p->lock);
	uint32_t i = 0;
	while (i < p->sh.range->capacity && p->allocated[i])
		i++;
	if (i < p->sh.range->capacity)
		p->allocated[i] = 1;
	pthread_mutex_unlock(&p->lock);
	if (i == p->sh.range->capacity)
		return err_set(err, ERR_UNAVAILABLE, "all %u network slots of %s are in use",
			       p->sh.range->capacity, p->sh.range->text);
	if (db_slot_insert(p->h->db, i, err) < 0) {
		pthread_mutex_lock(&p->lock);
		p->allocated[i] = 0;
		pthread_mutex_unlock(&p->lock);
		return -1;
	}
	*out = i;
	return 0;
}

static void index_free(struct slotpool *p, uint32_t index)
{
	_cleanup_err_ struct thaw_err *err = NULL;
	if (db_slot_delete(p->h->db, index, &err) < 0)
		log_warn("slotpool.free", "slot=%u error=\"%s\"", index, err_msg(err));
	pthread_mutex_lock(&p->lock);
	p->allocated[index] = 0;
	pthread_mutex_unlock(&p->lock);
}

static int build(struct slotpool *p, struct netslot **out, struct thaw_err **err)
{
	uint32_t index = 0;
	if (index_alloc(p, &index, err) < 0)
		return -1;
	if (netslot_create(&p->sh, index, out, err) < 0) {
		index_free(p, index);
		return -1;
	}
	return 0;
}

int slotpool_attach(struct slotpool *p, uint32_t index, struct netslot **out,
		    struct thaw_err **err)
{
	if (index >= p->sh.range->capacity || !p->allocated[index])
		return err_set(err, ERR_NOT_FOUND, "network slot %u is not allocated", index);
	if (netslot_attach(&p->sh, index, out, err) < 0)
		return -1;
	pthread_mutex_lock(&p->lock);
	p->attached[index] = 1;
	p->in_use++;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

bool slotpool_owns(struct slotpool *p, const char *netns_name)
{
	size_t plen = strlen(p->sh.ns_prefix);
	if (strncmp(netns_name, p->sh.ns_prefix, plen) != 0 || netns_name[plen] != 's')
		return false;
	char *end;
	unsigned long index = strtoul(netns_name + plen + 1, &end, 10);
	if (*end || end == netns_name + plen + 1 || index >= p->sh.range->capacity)
		return false;
	pthread_mutex_lock(&p->lock);
	bool owned = p->allocated[index] != 0;
	pthread_mutex_unlock(&p->lock);
	return owned;
}

void slotpool_sweep(struct slotpool *p)
{
	if (p->running)
		return;
	for (uint32_t i = 0; i < p->sh.range->capacity; i++) {
		if (!p->allocated[i] || p->attached[i])
			continue;
		log_info("slotpool.sweep", "slot=%u", i);
		netslot_remove(&p->sh, i);
		index_free(p, i);
	}
}

static void push(struct netslot ***list, size_t *n, struct netslot *s)
{
	*list = xrealloc(*list, (*n + 1) * sizeof(**list));
	(*list)[(*n)++] = s;
}

/* Slots given back may fill the pool up to twice its depth: resetting one
 * costs less than building one, so in steady churn the pool recycles
 * instead of building and destroying. */
static size_t idle_max(const struct slotpool *p)
{
	return 2 * (size_t)p->depth;
}

/* One unit of background work; false when there was nothing to do. */
static bool refill_step(struct slotpool *p)
{
	struct netslot *dirty = p->ndirty ? p->dirty[--p->ndirty] : NULL;
	bool want = !dirty && p->nwarm + p->ndirty < p->depth;
	if (!dirty && !want)
		return false;
	pthread_mutex_unlock(&p->lock);
	_cleanup_err_ struct thaw_err *err = NULL;
	struct netslot *s = NULL;
	if (dirty && netslot_reset(dirty, &err) == 0)
		s = dirty;
	else if (dirty) {
		log_warn("slotpool.reset", "slot=%u error=\"%s\"", dirty->index, err_msg(err));
		uint32_t index = dirty->index;
		netslot_destroy(dirty);
		index_free(p, index);
	} else if (build(p, &s, &err) < 0) {
		log_warn("slotpool.build", "error=\"%s\"", err_msg(err));
		struct timespec pause = { .tv_sec = 1 };
		nanosleep(&pause, NULL); /* do not spin on a broken host */
	}
	pthread_mutex_lock(&p->lock);
	if (s && p->nwarm < idle_max(p) && !p->stop) {
		push(&p->warm, &p->nwarm, s);
		p->reused += dirty != NULL;
		stats_pool_refill("slot", "-");
		pthread_cond_broadcast(&p->wake);
	} else if (s) {
		pthread_mutex_unlock(&p->lock);
		uint32_t index = s->index;
		netslot_destroy(s);
		index_free(p, index);
		pthread_mutex_lock(&p->lock);
	}
	return true;
}

static void *refill_main(void *arg)
{
	struct slotpool *p = arg;
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		if (!refill_step(p))
			pthread_cond_wait(&p->wake, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int slotpool_start(struct slotpool *p, unsigned depth, struct thaw_err **err)
{
	p->depth = depth;
	int rc = pthread_create(&p->thread, NULL, refill_main, p);
	if (rc != 0) {
		errno = rc;
		return err_sys(err, "starting the slot pool");
	}
	p->running = true;
	return 0;
}

int slotpool_take(struct slotpool *p, bool use_pool, struct netslot **out, bool *warm,
		  struct thaw_err **err)
{
	pthread_mutex_lock(&p->lock);
	struct netslot *s = use_pool && p->nwarm ? p->warm[--p->nwarm] : NULL;
	if (s) {
		p->taken_warm++;
		p->in_use++;
		pthread_cond_broadcast(&p->wake); /* refill */
	}
	pthread_mutex_unlock(&p->lock);
	*warm = s != NULL;
	if (!s) {
		if (build(p, &s, err) < 0)
			return -1;
		pthread_mutex_lock(&p->lock);
		p->taken_cold++;
		p->in_use++;
		pthread_mutex_unlock(&p->lock);
	}
	*out = s;
	return 0;
}

void slotpool_give(struct slotpool *p, struct netslot *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&p->lock);
	p->in_use--;
	bool queue = p->running && !p->stop && p->nwarm + p->ndirty < idle_max(p);
	if (queue) {
		push(&p->dirty, &p->ndirty, s);
		pthread_cond_broadcast(&p->wake);
	}
	pthread_mutex_unlock(&p->lock);
	if (!queue) {
		uint32_t index = s->index;
		netslot_destroy(s);
		index_free(p, index);
	}
}

void slotpool_drop(struct slotpool *p, struct netslot *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&p->lock);
	p->in_use--;
	pthread_mutex_unlock(&p->lock);
	uint32_t index = s->index;
	netslot_destroy(s);
	index_free(p, index);
}

void slotpool_stats(struct slotpool *p, struct slotpool_stats *out)
{
	pthread_mutex_lock(&p->lock);
	unsigned allocated = 0;
	for (uint32_t i = 0; i < p->sh.range->capacity; i++)
		allocated += p->allocated[i];
	*out = (struct slotpool_stats){ .depth = p->depth,
					.allocated = allocated,
					.warm = (unsigned)p->nwarm,
					.in_use = p->in_use,
					.capacity = p->sh.range->capacity,
					.taken_warm = p->taken_warm,
					.taken_cold = p->taken_cold,
					.reused = p->reused };
	pthread_mutex_unlock(&p->lock);
}

static void destroy_list(struct slotpool *p, struct netslot **list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t index = list[i]->index;
		netslot_destroy(list[i]);
		index_free(p, index);
	}
	free(list);
}

void slotpool_close(struct slotpool *p)
{
	if (!p)
		return;
	if (p->running) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_cond_broadcast(&p->wake);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
	}
	destroy_list(p, p->warm, p->nwarm);
	destroy_list(p, p->dirty, p->ndirty);
	free(p->allocated);
	free(p->attached);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
