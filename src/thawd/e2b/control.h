/* The control plane of the E2B front (/sandboxes, /v2/sandboxes):
 * E2B's requests translated onto thaw's operations, E2B's answers made
 * from thaw's sandboxes. */
#ifndef THAW_E2B_CONTROL_H
#define THAW_E2B_CONTROL_H

#include <jansson.h>
#include <stdint.h>

#include "core/sbstate.h"
#include "e2b/e2b.h"

struct sandbox;

/* template_alias.c: the thaw template an E2B templateID names (E2B's
 * default names are aliases; others must be valid thaw names). */
int e2b_template_resolve(const char *name, char out[64], struct thaw_err **err);

/* control_create.c: the /v1 create body (for validate_create) that an
 * E2B create body asks for. What thaw cannot honour (domain names in
 * allowOut, egress proxies, volume mounts, MCP, IAM, filesystem-only
 * pauses, unknown fields) is ERR_INVALID naming the E2B field: never
 * dropped. *out: a new reference. */
int e2b_create_body(json_t *e2b, int64_t max_timeout, json_t **out, struct thaw_err **err);

/* control_json.c: a sandbox as E2B's create and connect answer it
 * (sandboxID, templateID, envdVersion, envdAccessToken, ...). */
json_t *e2b_sandbox_created_json(struct host *h, struct sandbox *sb);

/* Its E2B state: "running" or "paused". */
const char *e2b_state_name(enum sb_state s);
/* A sandbox as E2B's list shows it; detail (GET /sandboxes/{id}) adds
 * envdAccessToken, network, allowInternetAccess, lifecycle, domain and
 * its measured disk. */
json_t *e2b_sandbox_info_json(struct host *h, struct sandbox *sb, bool detail);

/* control.c: the request's body as a JSON object ({} when empty and
 * empty_ok); NULL after replying 400 in E2B's shape. */
json_t *e2b_body_object(struct api_req *r, bool empty_ok, enum MHD_Result *res);
/* params[0], a sandbox the request's key may see: a new reference, or
 * NULL after replying 404 (the same for another key's: ids are not
 * revealed). */
struct sandbox *e2b_control_sandbox(struct api_req *r, enum MHD_Result *res);

enum MHD_Result e2b_create(struct api_req *r);
enum MHD_Result e2b_kill(struct api_req *r);
/* control_list.c */
enum MHD_Result e2b_list(struct api_req *r);
/* A page of a list (steals arr), the next page's token in x-next-token
 * (next NULL: the last page). */
enum MHD_Result e2b_reply_page(struct api_req *r, json_t *arr, const char *next);
/* control_snapshot.c */
enum MHD_Result e2b_snapshot_create(struct api_req *r);
enum MHD_Result e2b_snapshot_list(struct api_req *r);
enum MHD_Result e2b_snapshot_delete(struct api_req *r);
/* control_lifecycle.c */
enum MHD_Result e2b_get(struct api_req *r);
enum MHD_Result e2b_set_timeout(struct api_req *r);
enum MHD_Result e2b_pause(struct api_req *r);
enum MHD_Result e2b_connect(struct api_req *r);
enum MHD_Result e2b_fork(struct api_req *r);
enum MHD_Result e2b_metrics(struct api_req *r);

#endif
