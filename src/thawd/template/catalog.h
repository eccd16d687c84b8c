/* The template catalog: which build of each template is current (in the
 * database), its verified artifacts (cached, re-verified whenever a file
 * changes), and which templates are being baked right now.
 *
 * Layout: STORE/templates/<name>/<build_id>/{meta.json, memory.bin, ...}
 * A build directory is immutable once published; an older build stays
 * until no sandbox uses it. */
#ifndef THAW_CATALOG_H
#define THAW_CATALOG_H

#include <stdbool.h>

#include "build.h"
#include "err.h"
#include "ids.h"
#include "meta.h"

struct db;
struct catalog;

int catalog_open(struct db *db, const char *store_root, struct catalog **out,
		 struct thaw_err **err);
void catalog_close(struct catalog *c);

/* The current, verified build of a template, with a reference the caller
 * drops with catalog_put. ERR_NOT_FOUND when unknown, ERR_CORRUPT when
 * its metadata or device state fails verification. */
int catalog_get(struct catalog *c, const char *name, struct template **out, struct thaw_err **err);
/* catalog_get for a key: a template private to another key is
 * ERR_NOT_FOUND, like one that does not exist (viewer NULL: sees all). */
int catalog_get_visible(struct catalog *c, const char *name, const char *viewer,
			struct template **out, struct thaw_err **err);
void catalog_put(struct catalog *c, struct template *t);
/* A given build of a template, current or not (an older build stays
 * while sandboxes use it). Same contract as catalog_get. */
int catalog_get_build(struct catalog *c, const char *name, const char *build_id,
		      struct template **out, struct thaw_err **err);

/* Deletes a template no sandbox uses (ERR_CONFLICT otherwise, and while
 * it is baked): its row, then its builds. Warm VMMs of it are dropped
 * by the VMM pool when it sees the template gone. */
int catalog_delete(struct catalog *c, const char *name, struct thaw_err **err);

/* STORE/templates/<name> */
char *catalog_template_dir(const struct catalog *c, const char *name);

/* Bake bookkeeping: one bake per name at a time (ERR_CONFLICT). */
int catalog_bake_begin(struct catalog *c, const char *name, struct thaw_err **err);
/* step: the stage's number (1..BAKE_STEPS), for the list's progress. */
void catalog_bake_stage(struct catalog *c, const char *name, const char *stage, int step);
void catalog_bake_end(struct catalog *c, const char *name);
/* Blocks until no bake runs (shutdown). */
void catalog_wait_bakes(struct catalog *c);
/* Copies the current stage into buf; false when not baking. */
bool catalog_bake_status(struct catalog *c, const char *name, char *buf, size_t size);

/* Moves a finished build directory into place and makes it current;
 * owner: the key it is private to, NULL for a shared template. */
int catalog_publish(struct catalog *c, const char *tmp_dir, const struct template_meta *m,
		    const char *meta_sha256, const char *owner, struct thaw_err **err);

/* Removes builds of `name` that are neither current nor used by a
 * sandbox, and leftovers of interrupted bakes. */
void catalog_gc(struct catalog *c, const char *name);
/* catalog_gc for every template directory. */
void catalog_gc_all(struct catalog *c);

struct template_info {
	char name[64];
	char build_id[48];
	char status[16]; /* ready | baking | corrupt */
	char detail[256];
	int bake_step; /* while a bake runs: its stage's number, else 0 */
	char owner[KEY_NAME_MAX + 1]; /* "" = shared */
	struct template_meta meta;    /* valid when ready */
};

/* Every known template plus templates being baked for the first time. */
int catalog_list(struct catalog *c, struct template_info **out, size_t *n, struct thaw_err **err);

#endif
