/* Keepalive: a new timeout from now; a paused sandbox keeps it for its
 * next resume. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "ops/ops.h"

int sandbox_keepalive(struct host *h, const char *id, int64_t timeout_s, struct sandbox **out,
		      struct thaw_err **err)
{
	struct sandbox *sb;
	enum sb_state state;
	if (sandbox_lock_in(h, id, SB_BIT(SB_RUNNING) | SB_BIT(SB_PAUSED), &sb, &state, err) < 0)
		return -1;
	int64_t timeout_at = state == SB_RUNNING ? deadline_after(timeout_s) : 0;
	int rc = db_sandbox_set_timeout(h->db, id, timeout_at, timeout_s, err);
	if (rc == 0) {
		pthread_mutex_lock(&sb->lock);
		sb->timeout_s = timeout_s;
		sb->timeout_at = timeout_at;
		pthread_mutex_unlock(&sb->lock);
		sandbox_ref(h, sb);
		*out = sb;
	}
	sandbox_unlock(h, sb);
	return rc;
}
