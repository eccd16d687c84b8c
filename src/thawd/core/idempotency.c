#include "core/idempotency.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "timeutil.h"

#define TTL_NS ((uint64_t)IDEM_TTL_S * 1000000000ull)

/* Keys are found by hash (a create must not scan every key a busy day
 * left); finished ones are also on a list oldest first, so expiry and the
 * bound take them from its head without a scan. A key in flight is on
 * no list: it cannot expire and its waiters hold no pointer to it. */
struct entry {
	char owner[KEY_NAME_MAX + 1];
	char key[IDEM_KEY_MAX + 1];
	char id[SANDBOX_ID_LEN + 1]; /* "" while the create is in flight */
	uint64_t done_ns;	     /* when it finished (monotonic) */
	struct entry *chain;	     /* the next in its bucket */
	struct entry *older, *newer; /* the finished list */
};

struct idem_table {
	pthread_mutex_t lock;
	pthread_cond_t done;
	struct entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t n, max;
	struct entry *oldest, *newest;
};

struct idem_table *idem_new(size_t max_entries)
{
	struct idem_table *t = xcalloc(1, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->done, &ca);
	pthread_condattr_destroy(&ca);
	t->nbuckets = 64;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	t->max = max_entries ? max_entries : 1;
	return t;
}

void idem_free(struct idem_table *t)
{
	if (!t)
		return;
	for (size_t b = 0; b < t->nbuckets; b++)
		for (struct entry *e = t->buckets[b], *next; e; e = next) {
			next = e->chain;
			free(e);
		}
	free(t->buckets);
	pthread_cond_destroy(&t->done);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* FNV-1a over owner, a separator no name holds, and key. */
static uint64_t hash(const char *owner, const char *key)
{
	uint64_t h = 14695981039346656037ull;
	for (const char *p = owner; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	h = (h ^ 0x1f) * 1099511628211ull;
	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h;
}

static struct entry **slot_of(struct idem_table *t, const char *owner, const char *key)
{
	struct entry **pp = &t->buckets[hash(owner, key) & (t->nbuckets - 1)];
	while (*pp && (strcmp((*pp)->key, key) || strcmp((*pp)->owner, owner)))
		pp = &(*pp)->chain;
	return pp;
}

static void grow(struct idem_table *t)
{
	size_t nb = t->nbuckets * 2;
	struct entry **b = xcalloc(nb, sizeof(*b));
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct entry *e = t->buckets[i], *next; e; e = next) {
			next = e->chain;
			struct entry **head = &b[hash(e->owner, e->key) & (nb - 1)];
			e->chain = *head;
			*head = e;
		}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
}

static void list_append(struct idem_table *t, struct entry *e)
{
	e->older = t->newest;
	e->newer = NULL;
	if (t->newest)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
}

static void list_unlink(struct idem_table *t, struct entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else if (t->oldest == e)
		t->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else if (t->newest == e)
		t->newest = e->older;
	e->older = e->newer = NULL;
}

static void drop(struct idem_table *t, struct entry *e)
{
	struct entry **pp = slot_of(t, e->owner, e->key);
	*pp = e->chain;
	if (e->id[0])
		list_unlink(t, e);
	t->n--;
	free(e);
}

/* Expired keys go; at the bound, the oldest finished ones too. */
static void prune(struct idem_table *t, uint64_t now)
{
	while (t->oldest && now - t->oldest->done_ns > TTL_NS)
		drop(t, t->oldest);
	while (t->oldest && t->n >= t->max)
		drop(t, t->oldest);
}

static struct entry *add(struct idem_table *t, const char *owner, const char *key)
{
	prune(t, time_mono_ns());
	if (t->n >= t->nbuckets)
		grow(t);
	struct entry *e = xcalloc(1, sizeof(*e));
	snprintf(e->owner, sizeof(e->owner), "%s", owner);
	snprintf(e->key, sizeof(e->key), "%s", key);
	struct entry **head = &t->buckets[hash(owner, key) & (t->nbuckets - 1)];
	e->chain = *head;
	*head = e;
	t->n++;
	return e;
}

int idem_begin(struct idem_table *t, const char *owner, const char *key, int wait_ms,
	       char id[SANDBOX_ID_LEN + 1])
{
	struct timespec until = time_after_ms(CLOCK_MONOTONIC, (unsigned)wait_ms);
	pthread_mutex_lock(&t->lock);
	int rc = 0;
	for (;;) {
		struct entry *e = *slot_of(t, owner, key);
		if (e && e->id[0]) {
			memcpy(id, e->id, SANDBOX_ID_LEN + 1);
			rc = 1;
			break;
		}
		if (!e) {
			add(t, owner, key);
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
	struct entry *e = *slot_of(t, owner, key);
	if (e && !e->id[0]) {
		if (id) {
			snprintf(e->id, sizeof(e->id), "%s", id);
			e->done_ns = time_mono_ns();
			list_append(t, e);
		} else {
			drop(t, e);
		}
	}
	pthread_cond_broadcast(&t->done);
	pthread_mutex_unlock(&t->lock);
}

void idem_forget(struct idem_table *t, const char *owner, const char *key)
{
	pthread_mutex_lock(&t->lock);
	struct entry *e = *slot_of(t, owner, key);
	if (e && e->id[0])
		drop(t, e);
	pthread_mutex_unlock(&t->lock);
}

void idem_restore(struct idem_table *t, const char *owner, const char *key, const char *id,
		  int64_t age_s)
{
	if (age_s < 0)
		age_s = 0; /* the wall clock stepped back */
	if (age_s >= IDEM_TTL_S || !id_valid_idem_key(key) || !id_valid_sandbox(id))
		return;
	pthread_mutex_lock(&t->lock);
	if (!*slot_of(t, owner, key)) {
		struct entry *e = add(t, owner, key);
		snprintf(e->id, sizeof(e->id), "%s", id);
		uint64_t now = time_mono_ns(), age = (uint64_t)age_s * 1000000000ull;
		e->done_ns = now > age ? now - age : 0;
		/* Rows come oldest first; a younger key already listed (not
		 * expected) only makes this one live a little longer. */
		list_append(t, e);
	}
	pthread_mutex_unlock(&t->lock);
}

size_t idem_count(struct idem_table *t)
{
	pthread_mutex_lock(&t->lock);
	size_t n = t->n;
	pthread_mutex_unlock(&t->lock);
	return n;
}
