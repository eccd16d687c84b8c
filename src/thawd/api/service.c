/* thawd's API on the shared server (src/httpapi/): its routes, its host
 * as the handlers' context, and the checks every route under a sandbox
 * gets before it reads the rest of its input. */
#include <string.h>

#include "api/api.h"
#include "core/sandbox.h"

static bool under_sandbox(const struct api_route *route)
{
	/* Adopt names a sandbox this host does not have yet (admin only).
	 * The public routes under a sandbox (signed file URLs) have no key
	 * to check: their signature is checked instead (file_sign.c). */
	return !route->public && strncmp(route->pattern, "/v1/sandboxes/{}", 16) == 0 &&
	       strcmp(route->pattern, "/v1/sandboxes/{}/adopt") != 0;
}

static bool admit(struct api_req *r, const struct api_route *route, enum MHD_Result *res)
{
	return !under_sandbox(route) || api_sandbox_access(r, res);
}

/* Commands running in guests return at once (their requests end). */
static void interrupt(void *app)
{
	sandbox_interrupt_all(app);
}

int thawd_api_start(struct host *h, struct api_keys *keys, struct api_server **out,
		    struct thaw_err **err)
{
	const struct thawd_config *cfg = h->cfg;
	struct api_service svc = { .routes = api_routes,
				   .nroutes = api_route_count,
				   .app = h,
				   .listen_addr = cfg->listen_addr,
				   .listen_port = cfg->listen_port,
				   .upload_dir = cfg->data_dir,
				   .rate_limit = cfg->rate_limit,
				   .admit = admit,
				   .public_body = api_file_signed_body,
				   .interrupt = interrupt };
	return api_server_start(&svc, keys, out, err);
}
