/* The E2B front: thawd speaking the wire protocol of E2B's SDKs (npm
 * `e2b`, `@e2b/code-interpreter`, PyPI `e2b`) on its own listener
 * (--e2b-listen), so that their unchanged programs drive a thaw host.
 * thaw's /v1 API stays primary; this front only translates: every
 * handler here validates E2B-shaped input and calls the same operations
 * (src/thawd/ops/) that /v1 calls.
 *
 * One origin serves both of the SDK's planes (E2B_API_URL and
 * E2B_SANDBOX_URL point at it):
 *   - control plane (X-API-KEY: a thaw key's secret): /sandboxes,
 *     /v2/sandboxes, ... (control.c); errors {code: <int>, message}.
 *   - data plane (the headers E2b-Sandbox-Id, E2b-Sandbox-Port and the
 *     sandbox's X-Access-Token): the in-sandbox daemon "envd" on port
 *     49983 (Connect protocol: process.c, filesystem.c; REST /files,
 *     /health) and the code interpreter on 49999 (interp.c).
 * Each area has its own route table; server.c joins them. */
#ifndef THAW_E2B_H
#define THAW_E2B_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "httpapi/httpapi.h"
#include "ids.h"

struct host;
struct api_keys;
struct api_server;

/* The ports the SDK names in E2b-Sandbox-Port. */
#define E2B_ENVD_PORT 49983
#define E2B_INTERP_PORT 49999
/* The envd version advertised at create/connect: the SDK itself refuses
 * the features gated above it (see docs/e2b.md). */
#define E2B_ENVD_VERSION "0.5.2"
#define E2B_TOKEN_LEN 64 /* hex of an HMAC-SHA256 */
/* envd's user when a call names none (the SDK sends no Authorization
 * from envd 0.4.0 on): E2B's "user", which thaw's templates have too
 * (uid 1000, home /home/user: templates/build-rootfs.sh). */
#define E2B_DEFAULT_USER "user"
#define E2B_USER_MAX 32

/* server.c: the front started on h (takes over keys); stop it with
 * api_server_stop. Not started without --e2b-listen. */
int e2b_api_start(struct host *h, struct api_keys *keys, struct api_server **out,
		  struct thaw_err **err);

/* auth.c: a sandbox's envd access token, derived from the host's secret
 * and the id (so it survives restarts and needs no storage). */
void e2b_access_token(struct host *h, const char *id, char out[E2B_TOKEN_LEN + 1]);

/* reply.c: control-plane and REST errors in E2B's shape
 * {"code": <HTTP status>, "message": "..."}. */
enum MHD_Result e2b_reply_error(struct api_req *r, const struct thaw_err *e);
enum MHD_Result e2b_reply_fail(struct api_req *r, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* auth.c: for a data-plane route: the sandbox that E2b-Sandbox-Id names,
 * checked (a valid id, X-Access-Token its token, compared in constant
 * time; it exists and the token's key may see it), and that the request
 * is for port (E2b-Sandbox-Port). false after replying (Connect routes:
 * a Connect error; REST routes: E2B's shape; a sandbox that is gone: 502
 * or Connect's unavailable, as envd's proxy answers). On a public route
 * (no key looked up) the request acts as the sandbox's owner once this
 * returns true (r->key set), as on the others. */
bool e2b_sandbox_of(struct api_req *r, int port, char id[SANDBOX_ID_LEN + 1],
		    enum MHD_Result *res);

/* user.c: a user name as envd takes it: 1 to E2B_USER_MAX of
 * [A-Za-z0-9_.-], not starting with '-', not "." or "..". */
int e2b_user_check(const char *name, struct thaw_err **err);
/* The user of a data-plane call from its Authorization header
 * ("Basic base64(<user>:)"; NULL: absent, or an empty name: the default
 * user). */
int e2b_user_from_auth(const char *authorization, char out[E2B_USER_MAX + 1],
		       struct thaw_err **err);

/* connect.c: the Connect protocol (v1, JSON codec) over libmicrohttpd. */
/* A unary call's request message (application/json body, an object).
 * NULL after replying with a Connect error. */
json_t *connect_unary_request(struct api_req *r, enum MHD_Result *res);
/* A unary call's answer: 200 application/json (steals msg). */
enum MHD_Result connect_reply(struct api_req *r, json_t *msg);
/* A Connect error: the HTTP status of e's code and
 * {"code": "not_found"|"invalid_argument"|..., "message"}. thaw's codes
 * map onto Connect's: ERR_INVALID invalid_argument, ERR_NOT_FOUND
 * not_found, ERR_CONFLICT failed_precondition (already_exists when its
 * sys_errno is EEXIST), ERR_UNAUTHORIZED unauthenticated, ERR_FORBIDDEN
 * permission_denied, ERR_LIMIT and ERR_TOO_LARGE resource_exhausted,
 * ERR_TIMEOUT deadline_exceeded, ERR_UNAVAILABLE and ERR_GUEST
 * unavailable, the rest internal. */
enum MHD_Result connect_reply_error(struct api_req *r, const struct thaw_err *e);
/* A server-streaming call's request: the one envelope of an
 * application/connect+json body. NULL after replying. */
json_t *connect_stream_request(struct api_req *r, enum MHD_Result *res);
struct api_stream;
/* Starts the streaming answer (application/connect+json) on s. */
enum MHD_Result connect_stream_reply(struct api_req *r, struct api_stream *s);
/* One message envelope (steals msg). */
void connect_stream_send(struct api_stream *s, json_t *msg);
/* The end-of-stream envelope, with e's error when e is not NULL; then
 * the stream ends. */
void connect_stream_end(struct api_stream *s, const struct thaw_err *e);

/* The route tables, one per area (server.c joins them). */
extern const struct api_route e2b_control_routes[];
extern const size_t e2b_control_route_count;
extern const struct api_route e2b_process_routes[];
extern const size_t e2b_process_route_count;
extern const struct api_route e2b_filesystem_routes[];
extern const size_t e2b_filesystem_route_count;
extern const struct api_route e2b_interp_routes[];
extern const size_t e2b_interp_route_count;

#endif
