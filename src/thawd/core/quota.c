#include "core/quota.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "core/capacity.h"

struct owner_count {
	char *name;
	unsigned owned;
};

struct quota {
	pthread_mutex_t lock; /* guards everything below */
	unsigned host_max;    /* 0: capacity_max_sandboxes */
	struct capacity *cap; /* not owned */
	unsigned live;
	struct owner_count *owners; /* one entry per owner seen; few keys */
	size_t n_owners;
};

struct quota *quota_new(unsigned host_max, struct capacity *cap)
{
	struct quota *q = xcalloc(1, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
	q->host_max = host_max;
	q->cap = cap;
	return q;
}

unsigned quota_host_max(struct quota *q)
{
	if (q->host_max || !q->cap)
		return q->host_max;
	return capacity_max_sandboxes(q->cap);
}

void quota_free(struct quota *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n_owners; i++)
		free(q->owners[i].name);
	free(q->owners);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

/* q->lock held. */
static struct owner_count *owner_entry(struct quota *q, const char *owner)
{
	for (size_t i = 0; i < q->n_owners; i++)
		if (strcmp(q->owners[i].name, owner) == 0)
			return &q->owners[i];
	q->owners = xrealloc(q->owners, (q->n_owners + 1) * sizeof(*q->owners));
	struct owner_count *o = &q->owners[q->n_owners++];
	o->name = xstrdup(owner);
	o->owned = 0;
	return o;
}

int quota_reserve(struct quota *q, const char *owner, unsigned owner_max, unsigned sandboxes,
		  unsigned live, struct thaw_err **err)
{
	unsigned host_max = quota_host_max(q);
	pthread_mutex_lock(&q->lock);
	struct owner_count *o = owner_entry(q, owner);
	int rc = 0;
	if (owner_max && sandboxes && o->owned + sandboxes > owner_max)
		rc = err_set(err, ERR_LIMIT,
			     "key %s has %u sandboxes (creates in flight and paused ones "
			     "included); %u more would pass its max_sandboxes of %u",
			     owner, o->owned, sandboxes, owner_max);
	else if (host_max && live && q->live + live > host_max)
		rc = err_set(err, ERR_LIMIT,
			     "this host runs %u sandboxes (creates in flight included); %u more "
			     "would pass its --max-sandboxes of %u%s",
			     q->live, live, host_max,
			     q->host_max ? "" : " (what its memory holds at the measured cost)");
	/* Memory last, under the same lock: a refusal there must not have
	 * taken a place, and two creates must not both see the last room. */
	else if (q->cap && live && capacity_admit(q->cap, live, err) < 0)
		rc = -1;
	if (rc == 0) {
		o->owned += sandboxes;
		q->live += live;
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void quota_release(struct quota *q, const char *owner, unsigned sandboxes, unsigned live)
{
	pthread_mutex_lock(&q->lock);
	struct owner_count *o = owner_entry(q, owner);
	/* Never below zero: a count that drifted must not wrap around and
	 * lock an owner out for good. */
	o->owned = o->owned > sandboxes ? o->owned - sandboxes : 0;
	q->live = q->live > live ? q->live - live : 0;
	pthread_mutex_unlock(&q->lock);
}

void quota_count(struct quota *q, const char *owner, unsigned sandboxes, unsigned live)
{
	pthread_mutex_lock(&q->lock);
	owner_entry(q, owner)->owned += sandboxes;
	q->live += live;
	pthread_mutex_unlock(&q->lock);
}

unsigned quota_owned(struct quota *q, const char *owner)
{
	pthread_mutex_lock(&q->lock);
	unsigned n = owner_entry(q, owner)->owned;
	pthread_mutex_unlock(&q->lock);
	return n;
}

unsigned quota_live(struct quota *q)
{
	pthread_mutex_lock(&q->lock);
	unsigned n = q->live;
	pthread_mutex_unlock(&q->lock);
	return n;
}
