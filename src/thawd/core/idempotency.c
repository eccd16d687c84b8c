#include "core/idempotency.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "timeutil.h"

#define TTL_NS (24ull * 3600 * 1000000000ull)
/* Bounds the table: past this, the oldest entries go first. */
#define ENTRIES_MAX 100000

struct entry {
	char owner[KEY_NAME_MAX + 1];
	char key[IDEM_KEY_MAX + 1];
	char id[SANDBOX_ID_LEN + 1]; /* "" while the create is in flight */
	uint64_t at_ns;
};

struct idem_table {
	pthread_mutex_t lock;
	pthread_cond_t done;
	struct entry *v;
	size_t n, cap;
};

struct idem_table *idem_new(void)
{
	struct idem_table *t = xcalloc(1, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->done, &ca);
	pthread_condattr_destroy(&ca);
	return t;
}

void idem_free(struct idem_table *t)
{
	if (!t)
		return;
	pthread_cond_destroy(&t->done);
	pthread_mutex_destroy(&t->lock);
	free(t->v);
	free(t);
}

static struct entry *find(struct idem_table *t, const char *owner, const char *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].key, key) && !strcmp(t->v[i].owner, owner))
			return &t->v[i];
	return NULL;
}

static void drop(struct idem_table *t, struct entry *e)
{
	*e = t->v[--t->n];
}

/* Expired entries go; at the bound, the oldest finished one too. */
static void prune(struct idem_table *t, uint64_t now)
{
	for (size_t i = 0; i < t->n;)
		if (t->v[i].id[0] && now - t->v[i].at_ns > TTL_NS)
			drop(t, &t->v[i]);
		else
			i++;
	if (t->n < ENTRIES_MAX)
		return;
	size_t oldest = t->n;
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].id[0] && (oldest == t->n || t->v[i].at_ns < t->v[oldest].at_ns))
			oldest = i;
	if (oldest < t->n)
		drop(t, &t->v[oldest]);
}

int idem_begin(struct idem_table *t, const char *owner, const char *key, int wait_ms,
	       char id[SANDBOX_ID_LEN + 1])
{
	struct timespec until = time_after_ms(CLOCK_MONOTONIC, (unsigned)wait_ms);
	pthread_mutex_lock(&t->lock);
	int rc = 0;
	for (;;) {
		struct entry *e = find(t, owner, key);
		if (e && e->id[0]) {
			memcpy(id, e->id, SANDBOX_ID_LEN + 1);
			rc = 1;
			break;
		}
		if (!e) {
			prune(t, time_mono_ns());
			if (t->n == t->cap) {
				t->cap = t->cap ? t->cap * 2 : 64;
				t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
			}
			e = &t->v[t->n++];
			memset(e, 0, sizeof(*e));
			snprintf(e->owner, sizeof(e->owner), "%s", owner);
			snprintf(e->key, sizeof(e->key), "%s", key);
			e->at_ns = time_mono_ns();
			break;
		}
		if (pthread_cond_timedwait(&t->done, &t->lock, &until) != 0) {
			rc = -1;
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void idem_end(struct idem_table *t, const char *owner, const char *key, const char *id)
{
	pthread_mutex_lock(&t->lock);
	struct entry *e = find(t, owner, key);
	if (e && id) {
		snprintf(e->id, sizeof(e->id), "%s", id);
		e->at_ns = time_mono_ns();
	} else if (e) {
		drop(t, e);
	}
	pthread_cond_broadcast(&t->done);
	pthread_mutex_unlock(&t->lock);
}

void idem_forget(struct idem_table *t, const char *owner, const char *key)
{
	pthread_mutex_lock(&t->lock);
	struct entry *e = find(t, owner, key);
	if (e && e->id[0])
		drop(t, e);
	pthread_mutex_unlock(&t->lock);
}
