/* Sandbox images: a sandbox's memory, device state and disk captured at
 * one instant, for a fork (its children restore from it) or a pause
 * (the sandbox resumes from it). An image is a build directory
 * (template/build.h) in STORE/images/<id>, recorded in the builds table
 * with the checksum of its meta.json, and lives as long as a sandbox
 * row names it: children map its memory file for their whole life, so
 * deleting the sandbox it was taken from changes nothing for them.
 *
 * An image being written or handed to new sandboxes is pinned, so that
 * the collector never takes it between its creation and the rows that
 * will name it. */
#ifndef THAW_IMAGES_H
#define THAW_IMAGES_H

#include "core/host.h"
#include "template/build.h"

struct images;

int images_open(struct host *h, struct images **out, struct thaw_err **err);
void images_close(struct images *im);

/* STORE/images/<id> */
char *image_dir(struct host *h, const char *id);

/* A new image id, pinned, with its temporary directory created
 * (*tmp_dir, the caller's to free). */
int image_begin(struct host *h, char id[48], char **tmp_dir, struct thaw_err **err);
/* Moves the finished directory into place (durably) and records it. */
int image_publish(struct host *h, const char *tmp_dir, const struct template_meta *m,
		  const char *meta_sha256, struct thaw_err **err);
/* Removes the temporary directory (if any) of a failed capture and
 * unpins the id. */
void image_abort(struct host *h, const char *id, const char *tmp_dir);

/* Loads and verifies an image (build_free it afterwards). */
int image_load(struct host *h, const char *id, struct template **out, struct thaw_err **err);

void image_pin(struct host *h, const char *id);
void image_unpin(struct host *h, const char *id);

/* Removes images that no sandbox names and nobody pinned, their rows,
 * and what interrupted captures left. */
void images_gc(struct host *h);

#endif
