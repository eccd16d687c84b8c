/* Expire: sandboxes whose timeout has passed are deleted, or paused when
 * they asked for that (the janitor calls this twice a second). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/registry.h"
#include "log.h"
#include "ops/ops.h"

void sandbox_expire(struct host *h, int64_t now)
{
	size_t n;
	struct sandbox **list = registry_list(h, &n);
	for (size_t i = 0; i < n; i++) {
		struct sandbox *sb = list[i];
		pthread_mutex_lock(&sb->lock);
		bool due = sb->timeout_at && sb->timeout_at <= now &&
			   (sb->state == SB_RUNNING || sb->state == SB_FAILED);
		pthread_mutex_unlock(&sb->lock);
		if (!due)
			continue;
		pthread_mutex_lock(&sb->lock);
		bool pause = sb->timeout_pauses && sb->state == SB_RUNNING;
		pthread_mutex_unlock(&sb->lock);
		log_info("sandbox.timeout", "id=%s action=%s", sb->id, pause ? "pause" : "delete");
		_cleanup_err_ struct thaw_err *err = NULL;
		struct sandbox *paused = NULL;
		int rc = pause ? sandbox_pause(h, sb->id, &paused, &err)
			       : sandbox_delete(h, sb->id, &err);
		sandbox_unref(h, paused);
		if (rc < 0)
			log_warn("sandbox.timeout", "id=%s error=\"%s\"", sb->id, err_msg(err));
	}
	registry_list_free(h, list, n);
}
