/* Delete: the sandbox's VMM, slot, disk clone (or image, when paused) and
 * row go, in an order a crash at any point can finish: the row says
 * "deleting" first, and a restart removes what such a row names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/images.h"
#include "core/quota.h"
#include "core/registry.h"
#include "core/stats.h"
#include "db/db.h"
#include "failpoint.h"
#include "log.h"
#include "ops/ops.h"
#include "ops/publish.h"
#include "template/catalog.h"

int sandbox_delete(struct host *h, const char *id, struct thaw_err **err)
{
	STATS_TIME_OP("delete", err);
	struct sandbox *sb;
	/* Waits for a fork, pause or snapshot of it to finish. */
	if (sandbox_lock_current(h, id, &sb, err) < 0)
		return -1;
	enum sb_state was = sandbox_state(sb);
	if (was == SB_DELETING) {
		sandbox_unlock(h, sb);
		return err_set(err, ERR_NOT_FOUND, "sandbox %s is already being deleted", id);
	}
	if (was == SB_CREATING) {
		sandbox_unlock(h, sb);
		return err_set(err, ERR_CONFLICT, "sandbox %s is still being created", id);
	}
	/* From here a restart finishes the delete whatever happens. */
	if (sandbox_set_state(h, sb, &(struct sb_change){ .to = SB_DELETING }, err) < 0) {
		sandbox_unlock(h, sb);
		return err_wrap(err, "deleting sandbox %s", id);
	}
	failpoint("delete.recorded", sb->vmm);
	sandbox_release(h, sb);
	failpoint("delete.released", NULL);
	sandbox_unpublish_all(h, id); /* issue 17: its host ports go with it */
	int rc = db_sandbox_delete(h->db, id, err);
	registry_remove(h, id);
	/* A paused one held no VM; a failed one counted as one until now. */
	quota_release(h->quota, sb->owner, 1, was == SB_PAUSED ? 0 : 1);
	log_info("sandbox.deleted", "id=%s", id);
	char template_name[sizeof(sb->template_name)];
	memcpy(template_name, sb->template_name, sizeof(template_name));
	bool had_image = sb->image[0] != '\0';
	sandbox_unlock(h, sb);
	/* An older build of its template may have been waiting for it, and
	 * so may the image its memory came from. */
	catalog_gc(h->catalog, template_name);
	if (had_image)
		images_gc(h);
	return rc;
}
