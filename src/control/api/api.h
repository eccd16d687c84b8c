/* thaw-control's HTTP API on the shared machinery (src/httpapi/): the
 * route table (routes.c) and its handlers, one file per resource. */
#ifndef THAW_CONTROL_API_H
#define THAW_CONTROL_API_H

#include "control/control.h"
#include "control/relay.h"
#include "httpapi/httpapi.h"

static inline struct control *api_control(const struct api_req *r)
{
	return (struct control *)r->app;
}

extern const struct api_route control_routes[];
extern const size_t control_route_count;

enum MHD_Result control_health(struct api_req *r);
enum MHD_Result control_info(struct api_req *r);
/* hosts.c: the fleet's hosts, for operators (admin keys) */
enum MHD_Result control_hosts_list(struct api_req *r);
enum MHD_Result control_host_drain(struct api_req *r);
enum MHD_Result control_host_remove(struct api_req *r);
/* sandboxes.c: the sandbox API, placed and routed */
enum MHD_Result control_sandbox_create(struct api_req *r);
enum MHD_Result control_sandbox_list(struct api_req *r);
enum MHD_Result control_sandbox_call(struct api_req *r);
enum MHD_Result control_sandbox_relay(struct api_req *r);
enum MHD_Result control_sandbox_shell(struct api_req *r);
enum MHD_Result control_sandbox_tunnel(struct api_req *r);
enum MHD_Result control_sandbox_port_upgrade(struct api_req *r);
enum MHD_Result control_sandbox_port(struct api_req *r);
/* GET and PUT .../files/signed (public: the host checks the signature). */
enum MHD_Result control_sandbox_signed(struct api_req *r);
/* The route of the sandbox the request names, when the key may use it and
 * it is not lost; else replies (400, 404 as for any unknown id, 409 lost)
 * and returns false. */
struct sandbox_route;
bool control_sandbox_live(struct api_req *r, struct sandbox_route *rt, enum MHD_Result *res);
/* How the control plane reaches a host for r: that host's key, acting
 * for the caller unless the caller is an admin. */
struct relay_target control_target(const struct api_req *r, const char *host, const char *address,
				   const char *path_query);
/* A host's JSON answer passed on, with "host" added to objects. */
struct buf;
enum MHD_Result control_pass_json(struct api_req *r, long status, struct buf *b,
				  const char *host);
/* fork.c: children placed like creates, on the parent's host or others */
enum MHD_Result control_sandbox_fork(struct api_req *r);
/* Appends the request's path and query as the client sent them (the
 * server keeps escapes, httpapi/server.c: the arguments are still raw). */
struct buf;
void control_path_query(struct api_req *r, struct buf *out);
/* templates.c: answered by any host that is up */
enum MHD_Result control_templates(struct api_req *r);
enum MHD_Result control_template_bake(struct api_req *r);
/* fleet.c: what hosts call (the fleet secret, not an API key) */
enum MHD_Result control_fleet_register(struct api_req *r);
enum MHD_Result control_fleet_heartbeat(struct api_req *r);

#endif
