/* Baking: build a template's root file system from its recipe, cold-boot
 * it once, wait for the guest agent, and snapshot the ready machine
 * (memory file + device state). Artifacts are written to a temporary
 * build directory, checksummed, fsynced and renamed into place; the
 * database then makes the new build current. */
#ifndef THAW_BAKE_H
#define THAW_BAKE_H

#include "core/host.h"
#include "template/meta.h"

#define BAKE_STEPS 8

typedef void (*bake_progress_fn)(const char *stage, int step, const char *message, void *ud);

int bake_template(struct host *h, const char *name, bake_progress_fn progress, void *ud,
		  struct template_meta *out, struct thaw_err **err);

#endif
