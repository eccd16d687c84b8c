/* Templates through the control plane: every host lists the same ones
 * (they are in the shared object store), so any host that is up answers;
 * a bake goes to the emptiest host that is up, whose progress streams
 * back, and which publishes the build to the store: every other host
 * then imports it (listed, its memory and disk streamed). */
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "control/api/api.h"
#include "control/relay.h"
#include "httpapi/keys.h"

/* One host that is up: at random, or (emptiest) the one running the
 * fewest sandboxes. */
static enum MHD_Result relay_to_a_host(struct api_req *r, bool emptiest)
{
	struct control *ctl = api_control(r);
	PGresult *res = NULL;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (pg_exec(ctl->pg,
		    emptiest ? "SELECT address, name FROM hosts WHERE state = 'up' ORDER BY "
			       "COALESCE((used->>'sandboxes')::bigint, 0), random() LIMIT 1"
			     : "SELECT address, name FROM hosts WHERE state = 'up' ORDER BY random() "
			       "LIMIT 1",
		    0, NULL, &res, &err) < 0)
		return api_reply_error(r, err);
	if (PQntuples(res) == 0) {
		PQclear(res);
		return api_reply_fail(r, ERR_UNAVAILABLE, "no host is up");
	}
	_cleanup_free_ char *address = xstrdup(PQgetvalue(res, 0, 0));
	_cleanup_free_ char *host = xstrdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	struct relay_target t = control_target(r, host, address, r->url);
	return relay_request(r, &t);
}

enum MHD_Result control_templates(struct api_req *r)
{
	return relay_to_a_host(r, false);
}

enum MHD_Result control_template_bake(struct api_req *r)
{
	return relay_to_a_host(r, true);
}
