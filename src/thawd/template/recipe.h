/* A template recipe: templates/<name>/recipe.conf in the source tree.
 * Shell-compatible KEY=value or KEY="value" lines, so the rootfs build
 * script can source the same file. thawd reads the machine shape. */
#ifndef THAW_RECIPE_H
#define THAW_RECIPE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* Which kernel a template boots (recipe key "kernel"). */
enum recipe_kernel {
	/* thaw's own (templates/kernel/): drivers built in, no initramfs,
	 * a device model without ACPI (template/meta.h, machine_rev 3). */
	RECIPE_KERNEL_THAW,
	/* Debian's cloud kernel: modules (loaded from an initramfs) for
	 * templates that need them; it finds its devices through ACPI
	 * (machine_rev 2). */
	RECIPE_KERNEL_DEBIAN_CLOUD,
};

#define RECIPE_MAX_PUBLISH 16

struct recipe {
	char *dir;	   /* the recipe's directory */
	char *description;
	uint32_t memory_mb;
	uint32_t vcpus;
	uint32_t disk_mb;
	uint32_t settle_ms; /* quiet time between agent ready and snapshot */
	enum recipe_kernel kernel;
	char *cmdline_extra;
	/* Shell command run in the guest before the snapshot, so that what it
	 * reads is in the snapshot's page cache instead of on every clone's
	 * path to its first command. */
	char *warmup;
	/* Run in every new sandbox of the template (create, fork children)
	 * before the answer, with the sandbox's new database password on its
	 * stdin (docs/postgres.md); NULL: none. */
	char *clone_hook;
	/* Issue 17 (recover): a shell command line run in the guest after a
	 * cold boot of a failed sandbox's own disk, bringing the template's
	 * services up again (POST /v1/sandboxes/{id}/recover). A template
	 * with one keeps the disk of a sandbox whose VMM died; NULL: none. */
	char *recover;
	/* The database a client connects to (the sandbox's "database"
	 * field); database_port 0: the template has none. */
	char *database_user;
	char *database_name;
	uint32_t database_port;
	/* Issue 17 (tcp): ports a create publishes by default on a host with
	 * a --publish-range (key publish="5432 8080"; ops/publish.h). */
	int publish[RECIPE_MAX_PUBLISH];
	int n_publish;
};

/* ERR_NOT_FOUND when there is no recipe of that name. */
int recipe_load(const char *recipes_dir, const char *name, struct recipe *out,
		struct thaw_err **err);
/* Parses recipe text (exposed for tests). */
int recipe_parse(const char *text, struct recipe *out, struct thaw_err **err);
void recipe_free(struct recipe *r);

#endif
