/* Network: a sandbox's egress policy replaced while it runs or is
 * paused. The row first (what a restart re-applies), then the slot's
 * table in one nftables transaction; a slot that refuses gets the old
 * row back, so the row never claims what the slot does not enforce. A
 * paused sandbox's policy reaches its next slot when it resumes. */
#include <stdlib.h>

#include "cleanup.h"
#include "db/db.h"
#include "failpoint.h"
#include "log.h"
#include "net/netpolicy.h"
#include "net/slot.h"
#include "ops/ops.h"

int sandbox_set_network(struct host *h, const char *id, const struct netpolicy *p,
			struct sandbox **out, struct thaw_err **err)
{
	struct sandbox *sb;
	enum sb_state state;
	if (sandbox_lock_in(h, id, SB_BIT(SB_RUNNING) | SB_BIT(SB_PAUSED), &sb, &state, err) < 0)
		return -1;
	struct netpolicy *old = sandbox_netpolicy(sb);
	_cleanup_free_ char *text = netpolicy_to_text(p);
	_cleanup_free_ char *old_text = netpolicy_to_text(old);
	int rc = db_sandbox_set_network(h->db, id, text, err);
	if (rc == 0)
		failpoint("network.recorded", sb->vmm);
	if (rc == 0 && state == SB_RUNNING && sb->slot) {
		rc = netslot_set_policy(sb->slot, p, err);
		if (rc < 0 && db_sandbox_set_network(h->db, id, old_text, NULL) < 0)
			log_warn("sandbox.network_revert_failed", "id=%s", id);
	}
	if (rc == 0) {
		pthread_mutex_lock(&sb->lock);
		netpolicy_free(sb->netpolicy);
		sb->netpolicy = netpolicy_copy(p);
		pthread_mutex_unlock(&sb->lock);
		log_info("sandbox.network_set", "id=%s policy=%s", id, text);
		sandbox_ref(h, sb);
		*out = sb;
	}
	netpolicy_free(old);
	sandbox_unlock(h, sb);
	return rc < 0 ? err_wrap(err, "setting the network policy of sandbox %s", id) : 0;
}
