#include "core/registry.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "core/host.h"
#include "core/sandbox.h"

struct registry {
	pthread_mutex_t lock;
	struct sandbox **items;
	size_t n;
};

struct registry *registry_new(void)
{
	struct registry *r = xcalloc(1, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	return r;
}

void registry_free(struct host *h, struct registry *r)
{
	if (!r)
		return;
	while (r->n > 0)
		registry_remove(h, r->items[r->n - 1]->id);
	free(r->items);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void registry_lock(struct host *h)
{
	pthread_mutex_lock(&h->reg->lock);
}

void registry_unlock(struct host *h)
{
	pthread_mutex_unlock(&h->reg->lock);
}

void registry_add(struct host *h, struct sandbox *sb)
{
	struct registry *r = h->reg;
	pthread_mutex_lock(&r->lock);
	r->items = xrealloc(r->items, (r->n + 1) * sizeof(*r->items));
	r->items[r->n++] = sb;
	sb->refs++;
	pthread_mutex_unlock(&r->lock);
}

void registry_remove(struct host *h, const char *id)
{
	struct registry *r = h->reg;
	struct sandbox *gone = NULL;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->items[i]->id, id) == 0) {
			gone = r->items[i];
			/* Keep creation order: listings read better. */
			memmove(&r->items[i], &r->items[i + 1], (r->n - i - 1) * sizeof(*r->items));
			r->n--;
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (gone)
		sandbox_unref(h, gone);
}

void registry_replace(struct host *h, struct sandbox *old, struct sandbox *next)
{
	struct registry *r = h->reg;
	bool found = false;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n && !found; i++)
		if (r->items[i] == old) {
			r->items[i] = next;
			next->refs++;
			found = true;
		}
	pthread_mutex_unlock(&r->lock);
	if (found)
		sandbox_unref(h, old);
}

struct sandbox *registry_get(struct host *h, const char *id)
{
	struct registry *r = h->reg;
	struct sandbox *found = NULL;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n && !found; i++) {
		if (strcmp(r->items[i]->id, id) == 0) {
			found = r->items[i];
			found->refs++;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return found;
}

struct sandbox **registry_list(struct host *h, size_t *n)
{
	struct registry *r = h->reg;
	pthread_mutex_lock(&r->lock);
	struct sandbox **list = xcalloc(r->n + 1, sizeof(*list));
	for (size_t i = 0; i < r->n; i++) {
		list[i] = r->items[i];
		list[i]->refs++;
	}
	*n = r->n;
	pthread_mutex_unlock(&r->lock);
	return list;
}

void registry_list_free(struct host *h, struct sandbox **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sandbox_unref(h, list[i]);
	free(list);
}

size_t registry_count(struct host *h)
{
	pthread_mutex_lock(&h->reg->lock);
	size_t n = h->reg->n;
	pthread_mutex_unlock(&h->reg->lock);
	return n;
}
