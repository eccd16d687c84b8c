/* The in-memory table of sandboxes this thawd knows. */
#ifndef THAW_REGISTRY_H
#define THAW_REGISTRY_H

#include <stddef.h>

struct host;
struct sandbox;
struct registry;

struct registry *registry_new(void);
void registry_free(struct host *h, struct registry *r);

/* Takes a reference for the table. */
void registry_add(struct host *h, struct sandbox *sb);
/* Drops the table's reference. */
void registry_remove(struct host *h, const char *id);
/* Lists next in place of old (same id): takes a reference for next and
 * drops the table's reference to old. */
void registry_replace(struct host *h, struct sandbox *old, struct sandbox *next);
/* A new reference, or NULL. */
struct sandbox *registry_get(struct host *h, const char *id);
/* New references to every sandbox; free with registry_list_free. */
struct sandbox **registry_list(struct host *h, size_t *n);
void registry_list_free(struct host *h, struct sandbox **list, size_t n);
size_t registry_count(struct host *h);

/* The lock that guards every sandbox's refs. */
void registry_lock(struct host *h);
void registry_unlock(struct host *h);

#endif
