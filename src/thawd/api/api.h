/* thawd's HTTP/JSON API: its route table (routes.c) and handlers, on the
 * shared machinery of src/httpapi/ (server, keys, replies). Every
 * handler validates its input before touching state. */
#ifndef THAW_API_H
#define THAW_API_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "ops/files.h"
#include "ops/ops.h"
#include "core/host.h"
#include "core/sandbox.h"
#include "err.h"
#include "httpapi/httpapi.h"

/* The host a thawd handler acts on. */
static inline struct host *api_host(const struct api_req *r)
{
	return (struct host *)r->app;
}

/* Handlers */
struct sandbox;
/* A sandbox as the API shows it; detail adds what costs a system call
 * or two (its disk usage). */
json_t *api_sandbox_json(struct host *h, struct sandbox *sb, bool detail);
/* Adds what only a create or fork answer shows (the database password,
 * taken from sb: one answer shows it) to o, sb's api_sandbox_json. */
void api_sandbox_secrets(json_t *o, struct sandbox *sb);
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
/* scrape.c: registers thawd's metric families and what GET /metrics
 * computes from h when scraped (the route itself is httpapi's
 * api_metrics_reply). Once, at start. */
void api_metrics_init(struct host *h);
/* store.c: the bucket's collector, now */
enum MHD_Result api_store_gc(struct api_req *r);
enum MHD_Result api_sandbox_list(struct api_req *r);
/* sblist.c: a sandbox a list shows, with the state it was seen in. */
struct sblist_item {
	struct sandbox *sb;
	enum sb_state state;
};
typedef bool (*sblist_pick_fn)(void *ctx, const struct sandbox *sb, enum sb_state state);
/* Of list (n; the caller keeps its references), the sandboxes the key
 * sees and pick takes, by creation time then id (desc: the reverse);
 * *count of them; free() the array. The list APIs' one selection (/v1's
 * and the E2B front's). */
struct sblist_item *sblist_select(struct api_req *r, struct sandbox **list, size_t n,
				  sblist_pick_fn pick, void *ctx, bool desc, size_t *count);
enum MHD_Result api_sandbox_create(struct api_req *r);
/* usage.c: a sandbox's usage over time (core/usage.h) */
enum MHD_Result api_sandbox_metrics(struct api_req *r);
/* Its ?start=&end= (RFC 3339 or unix seconds; default the whole window;
 * 400 naming a bad one, or for end before start: reply in *res, -1). */
int api_usage_window(struct api_req *r, int64_t *start, int64_t *end, enum MHD_Result *res);
enum MHD_Result api_sandbox_get(struct api_req *r);
enum MHD_Result api_sandbox_delete(struct api_req *r);
/* network.c: a sandbox's egress policy, replaced. */
enum MHD_Result api_sandbox_patch(struct api_req *r);
enum MHD_Result api_sandbox_network(struct api_req *r);
enum MHD_Result api_sandbox_exec(struct api_req *r);
/* exec_stream.c: the streaming answer of exec; takes over p. */
struct exec_params;
/* The agent request an exec's parameters make (pointers into p). */
struct agent_exec_req exec_request(const struct exec_params *p);
enum MHD_Result api_exec_stream(struct api_req *r, struct exec_params *p);
/* commands.c: exec with "background": true; takes over p. */
enum MHD_Result api_exec_background(struct api_req *r, struct exec_params *p);
enum MHD_Result api_command_get(struct api_req *r);
/* processes.c: the guest's process table */
enum MHD_Result api_process_list(struct api_req *r);
enum MHD_Result api_process_stream(struct api_req *r);
enum MHD_Result api_process_stdin(struct api_req *r);
enum MHD_Result api_process_signal(struct api_req *r);
enum MHD_Result api_process_resize(struct api_req *r);
enum MHD_Result api_process_wait(struct api_req *r);
/* exec_stream.c: a process's output as exec streams it (pid checked) */
enum MHD_Result api_attach_stream(struct api_req *r, uint32_t pid, bool from_start, bool base64);
enum MHD_Result api_command_kill(struct api_req *r);
enum MHD_Result api_sandbox_port(struct api_req *r);
enum MHD_Result api_sandbox_run_code(struct api_req *r);
/* contexts.c: the code interpreter's contexts */
enum MHD_Result api_context_create(struct api_req *r);
enum MHD_Result api_context_list(struct api_req *r);
enum MHD_Result api_context_delete(struct api_req *r);
enum MHD_Result api_context_restart(struct api_req *r);
enum MHD_Result api_context_interrupt(struct api_req *r);
enum MHD_Result api_sandbox_shell(struct api_req *r);
/* issue 17, tcp part: raw TCP (api/tunnel.c, api/published.c) */
enum MHD_Result api_sandbox_tunnel(struct api_req *r);
enum MHD_Result api_published_add(struct api_req *r);
enum MHD_Result api_published_list(struct api_req *r);
enum MHD_Result api_published_delete(struct api_req *r);
enum MHD_Result api_file_read(struct api_req *r);
enum MHD_Result api_file_write(struct api_req *r);
enum MHD_Result api_file_remove(struct api_req *r);
enum MHD_Result api_file_stat(struct api_req *r);
enum MHD_Result api_file_list(struct api_req *r);
enum MHD_Result api_file_mkdir(struct api_req *r);
/* files.c, for the other file routes: the sandbox id, the query's
 * "path" (checked) and "auto_resume"; false after replying. */
bool api_file_common(struct api_req *r, char path[FILE_PATH_MAX + 1], bool *auto_resume,
		     enum MHD_Result *res);
/* Streams the file at path of sandbox id as a 200
 * application/octet-stream answer with headers (name, value pairs,
 * NULL-terminated; may be NULL), read in a thread of its own; a read
 * that fails midway cuts the body. The caller has checked that it is a
 * file (a stat first gives a clean 404). */
enum MHD_Result api_file_stream_reply(struct api_req *r, const char *id, const char *path,
				      bool resume, const char *const *headers);
/* A file's metadata as the API shows it (path, when given, added). */
json_t *api_file_info_json(const struct file_info *fi, const char *path);
/* file_ops.c: POST .../files/move and .../files/batch */
enum MHD_Result api_file_move(struct api_req *r);
enum MHD_Result api_file_batch(struct api_req *r);
/* file_watch.c: GET .../files/watch, an NDJSON stream of events */
enum MHD_Result api_file_watch(struct api_req *r);
/* file_sign.c: POST .../files/sign makes a URL that reads or writes one
 * file without a key until it expires; GET and PUT .../files/signed
 * serve it (public routes: the signature is their only check). */
enum MHD_Result api_file_sign(struct api_req *r);
enum MHD_Result api_file_signed_read(struct api_req *r);
enum MHD_Result api_file_signed_write(struct api_req *r);
/* api_service.public_body: a signed upload's body is stored only when its
 * signature holds (app: the host). */
bool api_file_signed_body(void *app, struct MHD_Connection *conn, const struct api_route *route,
			  const char *const *params);
enum MHD_Result api_sandbox_fork(struct api_req *r);
enum MHD_Result api_sandbox_pause(struct api_req *r);
enum MHD_Result api_sandbox_resume(struct api_req *r);
enum MHD_Result api_sandbox_recover(struct api_req *r);
enum MHD_Result api_sandbox_adopt(struct api_req *r);
enum MHD_Result api_sandbox_export(struct api_req *r);
enum MHD_Result api_sandbox_snapshot(struct api_req *r);
enum MHD_Result api_sandbox_keepalive(struct api_req *r);
enum MHD_Result api_template_delete(struct api_req *r);
enum MHD_Result api_template_list(struct api_req *r);
enum MHD_Result api_template_get(struct api_req *r);
enum MHD_Result api_template_bake(struct api_req *r);

/* routes.c: thawd's route table */
extern const struct api_route api_routes[];
extern const size_t api_route_count;

/* service.c: thawd's API started on h (takes over keys); stop it with
 * api_server_stop, which interrupts commands running in guests. */
int thawd_api_start(struct host *h, struct api_keys *keys, struct api_server **out,
		    struct thaw_err **err);

#endif
