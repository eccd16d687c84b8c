/* What the front's own files share (the other areas use e2b.h only). */
#ifndef THAW_E2B_FRONT_H
#define THAW_E2B_FRONT_H

#include "e2b/e2b.h"

struct api_key;
struct api_keys;

/* auth.c: loads the host key the access tokens derive from (DATA/
 * url-signing.key, the host's existing MAC key, made on first use). */
int e2b_auth_init(struct host *h, struct thaw_err **err);
/* api_service.find_key: X-API-KEY (control plane), else a sandbox's
 * E2b-Sandbox-Id and X-Access-Token (data plane), which act as the
 * sandbox's owner. */
const struct api_key *e2b_find_key(void *app, struct MHD_Connection *conn,
				   const struct api_keys *keys, struct api_key *acting);
/* Whether the request is a Connect call (/<package>.<Service>/<Method>). */
bool e2b_is_connect(const char *url);

/* reply.c: api_service.refusal_body in E2B's shapes (Connect calls get
 * Connect's). */
json_t *e2b_refusal_body(const struct api_req *r, unsigned status, const char *msg);

/* connect.c: the Connect code and HTTP status of a thaw error. */
const char *connect_code_of(const struct thaw_err *e, unsigned *status);

#endif
