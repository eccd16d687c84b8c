/* The E2B front's listener: the four areas' route tables joined into
 * one, on the shared HTTP server (src/httpapi/) with E2B's ways of
 * naming a key (X-API-KEY, or a sandbox's access token) and E2B's shape
 * for the server's own refusals. */
#include <pthread.h>
#include <string.h>

#include "core/host.h"
#include "core/sandbox.h"
#include "e2b/front.h"
#include "httpapi/keys.h"
#include "log.h"

#define E2B_MAX_ROUTES 128

static struct api_route routes[E2B_MAX_ROUTES];
static size_t nroutes;
static pthread_once_t joined = PTHREAD_ONCE_INIT;

static void join_tables(void)
{
	const struct {
		const struct api_route *t;
		size_t n;
	} tables[] = {
		{ e2b_control_routes, e2b_control_route_count },
		{ e2b_process_routes, e2b_process_route_count },
		{ e2b_filesystem_routes, e2b_filesystem_route_count },
		{ e2b_interp_routes, e2b_interp_route_count },
	};
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		for (size_t j = 0; j < tables[i].n && nroutes < E2B_MAX_ROUTES; j++)
			routes[nroutes++] = tables[i].t[j];
}

/* A sandbox's access token opens its envd, never the control plane: a
 * control route (the joined table starts with them) takes an API key,
 * or anyone holding one sandbox's token could kill it, list its owner's
 * sandboxes or create more as that owner. */
static bool admit(struct api_req *r, const struct api_route *route, enum MHD_Result *res)
{
	bool control = route >= routes && route < routes + e2b_control_route_count;
	if (!control || MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-API-KEY"))
		return true;
	*res = e2b_reply_fail(r, ERR_UNAUTHORIZED,
			      "the control plane takes an API key (X-API-KEY); an access token "
			      "opens its own sandbox's envd only");
	return false;
}

/* Commands running in guests return at once (their requests end). */
static void interrupt(void *app)
{
	sandbox_interrupt_all(app);
}

int e2b_api_start(struct host *h, struct api_keys *keys, struct api_server **out,
		  struct thaw_err **err)
{
	const struct thawd_config *cfg = h->cfg;
	pthread_once(&joined, join_tables);
	size_t total = e2b_control_route_count + e2b_process_route_count +
		       e2b_filesystem_route_count + e2b_interp_route_count;
	if (total > E2B_MAX_ROUTES) {
		keys_free(keys);
		return err_set(err, ERR_INTERNAL, "the E2B front has %zu routes, room for %d",
			       total, E2B_MAX_ROUTES);
	}
	if (e2b_auth_init(h, err) < 0) {
		keys_free(keys);
		return -1;
	}
	struct api_service svc = { .routes = routes,
				   .nroutes = nroutes,
				   .app = h,
				   .listen_addr = cfg->e2b_listen_addr,
				   .listen_port = cfg->e2b_listen_port,
				   .upload_dir = cfg->data_dir,
				   .rate_limit = cfg->rate_limit,
				   .admit = admit,
				   .interrupt = interrupt,
				   .find_key = e2b_find_key,
				   .refusal_body = e2b_refusal_body };
	if (api_server_start(&svc, keys, out, err) < 0)
		return err_wrap(err, "the E2B front (--e2b-listen)");
	log_notice("e2b.ready", "listen=%s:%d routes=%zu", cfg->e2b_listen_addr,
		   cfg->e2b_listen_port, nroutes);
	return 0;
}
