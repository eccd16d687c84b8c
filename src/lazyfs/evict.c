/* LRU eviction between the high and low marks. A window is a candidate
 * when it is present, no open file names it (pins) and no read or fetch
 * uses it (users); candidates go oldest first until the cache is under
 * the low mark. */
#include "lazyfs.h"

#include <errno.h>
#include <stdlib.h>

#include "log.h"

struct victim {
	int64_t atime_ns;
	struct cobj *o;
	size_t idx;
};

static int by_age(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;
	return x->atime_ns < y->atime_ns ? -1 : x->atime_ns > y->atime_ns;
}

/* Candidates of every object; cobjs are never freed, so the list can be
 * walked after cache.mu is let go. */
static struct victim *collect(struct cache *c, size_t *n)
{
	size_t cap = 64, len = 0;
	struct victim *v = xmalloc(cap * sizeof(*v));
	pthread_mutex_lock(&c->mu);
	struct cobj *head = c->objs;
	pthread_mutex_unlock(&c->mu);
	for (struct cobj *o = head; o; o = o->next) {
		pthread_mutex_lock(&o->mu);
		for (size_t i = 0; i < o->nwin; i++) {
			const struct cwin *w = &o->w[i];
			if (w->state != CW_PRESENT || w->pins || w->users)
				continue;
			if (len == cap) {
				cap *= 2;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[len++] = (struct victim){ w->atime_ns, o, i };
		}
		pthread_mutex_unlock(&o->mu);
	}
	qsort(v, len, sizeof(*v), by_age);
	*n = len;
	return v;
}

static void evict_round(struct cache *c)
{
	size_t n = 0, dropped = 0;
	uint64_t before = c->bytes;
	struct victim *v = collect(c, &n);
	for (size_t i = 0; i < n && (uint64_t)c->bytes > c->low; i++) {
		struct cobj *o = v[i].o;
		pthread_mutex_lock(&o->mu);
		struct cwin *w = &o->w[v[i].idx];
		if (w->state == CW_PRESENT && !w->pins && !w->users) {
			struct thaw_err *e = NULL;
			uint32_t len = w->len;
			if (cache_drop(c, o, v[i].idx, &e) < 0)
				log_error("lazyfs.evict_failed", "object=%s error=\"%s\"", o->hash,
					  err_msg(e));
			err_free(e);
			lazy_ctr.evicted_bytes += len;
			dropped++;
		}
		pthread_mutex_unlock(&o->mu);
	}
	free(v);
	log_info("lazyfs.evicted", "windows=%zu before=%llu after=%llu", dropped,
		 (unsigned long long)before, (unsigned long long)c->bytes);
	if ((uint64_t)c->bytes > c->high)
		log_warn("lazyfs.cache_over_high",
			 "bytes=%llu high=%llu why=\"what is left is pinned or in use\"",
			 (unsigned long long)c->bytes, (unsigned long long)c->high);
}

static void *evictor(void *arg)
{
	struct cache *c = arg;
	pthread_mutex_lock(&c->evict_mu);
	for (;;) {
		while (!c->stopping && !c->evict_wanted)
			pthread_cond_wait(&c->evict_cv, &c->evict_mu);
		if (c->stopping)
			break;
		c->evict_wanted = false;
		pthread_mutex_unlock(&c->evict_mu);
		evict_round(c);
		pthread_mutex_lock(&c->evict_mu);
	}
	pthread_mutex_unlock(&c->evict_mu);
	return NULL;
}

int evict_start(struct cache *c, struct thaw_err **err)
{
	int rc = pthread_create(&c->evictor, NULL, evictor, c);
	if (rc) {
		errno = rc;
		return err_sys(err, "starting the evictor");
	}
	c->evictor_started = true;
	if ((uint64_t)c->bytes > c->high)
		evict_kick(c);
	return 0;
}

void evict_kick(struct cache *c)
{
	pthread_mutex_lock(&c->evict_mu);
	c->evict_wanted = true;
	pthread_cond_signal(&c->evict_cv);
	pthread_mutex_unlock(&c->evict_mu);
}

void evict_stop(struct cache *c)
{
	if (!c->evictor_started)
		return;
	pthread_mutex_lock(&c->evict_mu);
	c->stopping = true;
	pthread_cond_signal(&c->evict_cv);
	pthread_mutex_unlock(&c->evict_mu);
	pthread_join(c->evictor, NULL);
	c->evictor_started = false;
}

uint64_t cache_pinned_bytes(struct cache *c)
{
	uint64_t total = 0;
	pthread_mutex_lock(&c->mu);
	struct cobj *head = c->objs;
	pthread_mutex_unlock(&c->mu);
	for (struct cobj *o = head; o; o = o->next) {
		pthread_mutex_lock(&o->mu);
		for (size_t i = 0; i < o->nwin; i++)
			if (o->w[i].state == CW_PRESENT && o->w[i].pins)
				total += o->w[i].len;
		pthread_mutex_unlock(&o->mu);
	}
	return total;
}
