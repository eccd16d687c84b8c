/* The control-plane HTTP/JSON API (libmicrohttpd, one thread per
 * connection: handlers may block on a VM). Routing is a table in
 * routes.c; every handler validates its input before touching state. */
#ifndef THAW_API_H
#define THAW_API_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "ops/ops.h"
#include "core/host.h"
#include "core/sandbox.h"
#include "err.h"

/* Body limits, chosen per route (struct api_route.max_body): bodies that
 * carry data (exec and run_code stdin, what the port proxy forwards) up
 * to API_MAX_BODY; control bodies (create, fork, keepalive, ...) are
 * small JSON objects; routes that take no body refuse one past a few KiB.
 * Over the limit: 413 too_large. */
#define API_MAX_BODY (16u << 20)
#define API_CONTROL_BODY (64u << 10)
#define API_NO_BODY (4u << 10)
/* Bodies of routes that take a file (body_to_file) go to an unnamed temp
 * file in the data dir instead of memory, up to this size. */
#define API_MAX_UPLOAD (8ull << 30)
#define API_MAX_PARAMS 2

struct api_key;

struct api_req {
	struct MHD_Connection *conn;
	struct host *h;
	const struct api_key *key; /* who asks; NULL on public routes */
	const char *method;
	const char *url;
	const char *params[API_MAX_PARAMS]; /* path placeholders, in order */
	const char *tail; /* what a route ending in a double star matched: "/..." or "/" */
	const char *body;
	size_t body_len;
	int body_fd; /* body_to_file routes: the body, at offset 0; else -1 */
	uint64_t body_size;
};

typedef enum MHD_Result (*api_handler)(struct api_req *r);

struct api_route {
	const char *method;
	const char *pattern; /* "/v1/sandboxes/{}/exec"; a final double star takes any rest */
	api_handler handler;
	bool public;	   /* no API key needed */
	bool body_to_file; /* the body may be large: it goes to a temp file (API_MAX_UPLOAD) */
	uint64_t max_body; /* the largest body taken in memory */
	bool admin;	   /* admin keys only: others get 403 forbidden */
};

/* routes.c */
extern const struct api_route api_routes[];
extern const size_t api_route_count;
/* Matches a path: 1 found (route and params set), 0 unknown path,
 * -1 path known but not for this method (allow lists the methods). */
int api_route_match(const char *method, const char *path, const struct api_route **route,
		    char params[API_MAX_PARAMS][128], const char **tail, char *allow,
		    size_t allow_size);

/* respond.c: the only place that maps error codes to HTTP statuses */
unsigned api_status_for(enum err_code code);
enum MHD_Result api_reply_json(struct api_req *r, unsigned status, json_t *body);
enum MHD_Result api_reply_error(struct api_req *r, const struct thaw_err *e);
enum MHD_Result api_reply_fail(struct api_req *r, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
enum MHD_Result api_reply_empty(struct api_req *r, unsigned status);
/* Parses the body as a JSON object; on failure replies 400 and returns
 * NULL (the caller returns *result). */
json_t *api_body_object(struct api_req *r, enum MHD_Result *result);

/* files.c: a query parameter, percent-decoded ('+' is a space, %00 is
 * refused): 1 present, 0 absent, -1 malformed (reply given in *res). */
int api_query(struct api_req *r, const char *name, char *out, size_t size, enum MHD_Result *res);
/* A query flag: true/false/1/0, absent is dflt; anything else is a 400
 * (reply given in *res, returns -1). */
int api_query_bool(struct api_req *r, const char *name, bool dflt, bool *out, enum MHD_Result *res);

/* Handlers */
struct sandbox;
/* A sandbox as the API shows it; detail adds what costs a system call
 * or two (its disk usage). */
json_t *api_sandbox_json(struct host *h, struct sandbox *sb, bool detail);
/* Replies 400 and returns false when params[0] is no sandbox id. */
bool api_check_sandbox_id(struct api_req *r, enum MHD_Result *res);
/* Whether the caller's key may see sb: an admin key sees every sandbox,
 * a user key its own. */
bool api_key_sees(const struct api_req *r, const struct sandbox *sb);
/* For every route under /v1/sandboxes/{id}, before the route reads the
 * rest of its input: params[0] is a sandbox id (else 400) that exists and
 * that the caller may see (else 404 not_found, the same answer for both:
 * another key's sandboxes are not revealed). Replies and returns false
 * when not. */
bool api_sandbox_access(struct api_req *r, enum MHD_Result *res);
/* The owner of what the request creates (its key) and its cap. */
struct sb_owner api_owner(const struct api_req *r);
/* The common start of a POST on a sandbox: its id checked, then its body
 * as a JSON object (an empty body is {} when empty_ok). NULL after
 * replying (the caller returns *res). */
json_t *api_sandbox_body(struct api_req *r, bool empty_ok, enum MHD_Result *res);

enum MHD_Result api_health(struct api_req *r);
/* debug.c: failpoints, for fault tests (thawd --failpoints) */
enum MHD_Result api_failpoint_arm(struct api_req *r);
enum MHD_Result api_failpoint_get(struct api_req *r);
/* openapi.c: the OpenAPI document, embedded (NUL-terminated). */
extern const char api_openapi_json[], api_openapi_json_end[];
enum MHD_Result api_openapi(struct api_req *r);
enum MHD_Result api_info(struct api_req *r);
/* store.c: the bucket's collector, now */
enum MHD_Result api_store_gc(struct api_req *r);
enum MHD_Result api_sandbox_list(struct api_req *r);
enum MHD_Result api_sandbox_create(struct api_req *r);
enum MHD_Result api_sandbox_get(struct api_req *r);
enum MHD_Result api_sandbox_delete(struct api_req *r);
enum MHD_Result api_sandbox_exec(struct api_req *r);
/* exec_stream.c: the streaming answer of exec; takes over p. */
struct exec_params;
enum MHD_Result api_exec_stream(struct api_req *r, struct exec_params *p);
/* commands.c: exec with "background": true; takes over p. */
enum MHD_Result api_exec_background(struct api_req *r, struct exec_params *p);
enum MHD_Result api_command_get(struct api_req *r);
enum MHD_Result api_command_kill(struct api_req *r);
enum MHD_Result api_sandbox_port(struct api_req *r);
enum MHD_Result api_sandbox_run_code(struct api_req *r);
enum MHD_Result api_sandbox_shell(struct api_req *r);
enum MHD_Result api_file_read(struct api_req *r);
enum MHD_Result api_file_write(struct api_req *r);
enum MHD_Result api_file_remove(struct api_req *r);
enum MHD_Result api_file_stat(struct api_req *r);
enum MHD_Result api_file_list(struct api_req *r);
enum MHD_Result api_file_mkdir(struct api_req *r);
enum MHD_Result api_sandbox_fork(struct api_req *r);
enum MHD_Result api_sandbox_pause(struct api_req *r);
enum MHD_Result api_sandbox_resume(struct api_req *r);
enum MHD_Result api_sandbox_adopt(struct api_req *r);
enum MHD_Result api_sandbox_snapshot(struct api_req *r);
enum MHD_Result api_sandbox_keepalive(struct api_req *r);
enum MHD_Result api_template_delete(struct api_req *r);
enum MHD_Result api_template_list(struct api_req *r);
enum MHD_Result api_template_get(struct api_req *r);
enum MHD_Result api_template_bake(struct api_req *r);

/* server.c */
struct api_server;
struct api_keys;
/* Takes over keys (freed by api_server_stop, or here on failure). */
int api_server_start(struct host *h, struct api_keys *keys, struct api_server **out,
		     struct thaw_err **err);
/* Stops taking connections, interrupts commands running in guests, waits
 * for the requests in progress to finish. */
void api_server_stop(struct api_server *s);

#endif
