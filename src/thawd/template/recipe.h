/* A template recipe: templates/<name>/recipe.conf in the source tree.
 * Shell-compatible KEY=value or KEY="value" lines, so the rootfs build
 * script can source the same file. thawd reads the machine shape. */
#ifndef THAW_RECIPE_H
#define THAW_RECIPE_H

#include <stdint.h>

#include "err.h"

struct recipe {
	char *dir;	   /* the recipe's directory */
	char *description;
	uint32_t memory_mb;
	uint32_t vcpus;
	uint32_t disk_mb;
	uint32_t settle_ms; /* quiet time between agent ready and snapshot */
	char *cmdline_extra;
	/* Shell command run in the guest before the snapshot, so that what it
	 * reads is in the snapshot's page cache instead of on every clone's
	 * path to its first command. */
	char *warmup;
};

/* ERR_NOT_FOUND when there is no recipe of that name. */
int recipe_load(const char *recipes_dir, const char *name, struct recipe *out,
		struct thaw_err **err);
/* Parses recipe text (exposed for tests). */
int recipe_parse(const char *text, struct recipe *out, struct thaw_err **err);
void recipe_free(struct recipe *r);

#endif
