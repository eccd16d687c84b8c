/* The HTTP/JSON API machinery that thawd and thaw-control share
 * (libmicrohttpd, one thread per connection: handlers may block): body
 * limits and accumulation, API keys and their rates and roles, routing
 * by a table, error replies (the one place error codes become HTTP
 * statuses), query parameters. A program brings its route table and its
 * handlers (thawd: src/thawd/api/) in an api_service; this layer knows
 * nothing of sandboxes or hosts. */
#ifndef THAW_HTTPAPI_H
#define THAW_HTTPAPI_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/* max_body of a route whose body is streamed to its handler (struct
 * api_body_stream): no limit here, the handler bounds its memory. */
#define API_STREAM_BODY UINT64_MAX
#define API_MAX_PARAMS 2

struct api_key;
struct api_req;

/* A streamed body (max_body API_STREAM_BODY): the handler runs as soon as the
 * request's head has arrived, before any body, and either replies at
 * once (the body is then not read) or fills in the request's stream:
 * each piece of body then goes to feed as it arrives (memory stays
 * bounded by what feed buffers), and finish queues the reply once the
 * body has ended. */
struct api_body_stream {
	/* A piece of the body; -1: take no more (the rest is dropped). */
	int (*feed)(void *ud, const char *data, size_t len);
	/* The body has ended (or was dropped): queue the reply. */
	enum MHD_Result (*finish)(void *ud, struct api_req *r);
	/* The request is over, whether or not finish ran: ud is the
	 * stream's to free. */
	void (*release)(void *ud);
	void *ud;
};

struct api_req {
	struct MHD_Connection *conn;
	void *app; /* the program's context (api_service.app) */
	const struct api_key *key; /* who asks; NULL on public routes */
	const char *method;
	const char *url;
	const char *params[API_MAX_PARAMS]; /* path placeholders, in order */
	const char *tail; /* what a route ending in a double star matched: "/..." or "/" */
	const char *body;
	size_t body_len;
	int body_fd; /* body_to_file routes: the body, at offset 0; else -1 */
	uint64_t body_size;
	struct api_body_stream *stream; /* stream routes: for the handler to fill in; else NULL */
	const char *request_id; /* X-Request-Id of the answer (reqid.h); also the thread's log id */
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

/* routes.c: matches a path against a route table: 1 found (route and
 * params set), 0 unknown path, -1 path known but not for this method
 * (allow lists the methods). */
int api_route_match(const struct api_route *routes, size_t n, const char *method,
		    const char *path, const struct api_route **route,
		    char params[API_MAX_PARAMS][128], const char **tail, char *allow,
		    size_t allow_size);

/* respond.c: the only place that maps error codes to HTTP statuses */
unsigned api_status_for(enum err_code code);
/* Queues resp (taken over: destroyed here, NULL gives MHD_NO) with the
 * request's X-Request-Id added. Every answer goes through here (or the
 * api_reply_* below, which call it), never MHD_queue_response directly:
 * scripts/lint.sh fails on any other caller. */
enum MHD_Result api_queue(struct api_req *r, unsigned status, struct MHD_Response *resp);
/* Takes body over; an error (status >= 400) with an "error" member gains
 * "request_id". */
enum MHD_Result api_reply_json(struct api_req *r, unsigned status, json_t *body);
/* {"error", "code", "request_id"}; a 5xx is logged (api.error). */
enum MHD_Result api_reply_error(struct api_req *r, const struct thaw_err *e);
enum MHD_Result api_reply_fail(struct api_req *r, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
enum MHD_Result api_reply_empty(struct api_req *r, unsigned status);
/* Parses the body as a JSON object; on failure replies 400 and returns
 * NULL (the caller returns *result). */
json_t *api_body_object(struct api_req *r, enum MHD_Result *result);

/* query.c: a query parameter, percent-decoded ('+' is a space, %00 is
 * refused): 1 present, 0 absent, -1 malformed (reply given in *res). */
int api_query(struct api_req *r, const char *name, char *out, size_t size, enum MHD_Result *res);
/* The same decoding of a raw name or value (from MHD_get_connection_values):
 * 0, -1 for a bad escape (or %00), -2 when it does not fit in size. */
int api_query_decode(const char *raw, char *out, size_t size);
/* Calls fn with every query parameter, in order, each decoded as
 * api_query_decode does (a name up to 255 bytes, a value shorter than
 * value_max), until fn fails: 0, or -1 with *err set (by fn, or
 * ERR_INVALID for a parameter that does not decode or fit). */
typedef int (*api_query_fn)(void *ctx, const char *name, const char *value,
			    struct thaw_err **err);
int api_query_each(struct api_req *r, size_t value_max, api_query_fn fn, void *ctx,
		   struct thaw_err **err);
/* A query flag: true/false/1/0, absent is dflt; anything else is a 400
 * (reply given in *res, returns -1). */
int api_query_bool(struct api_req *r, const char *name, bool dflt, bool *out, enum MHD_Result *res);
/* Whether request header `name` holds `token` (case-insensitive) as one
 * item of its comma-separated list: "Connection: keep-alive, Upgrade". */
bool api_header_has(struct api_req *r, const char *name, const char *token);

/* stats.c: the requests' metrics (common/metrics.h, the process's
 * registry), kept by the server for every program: counts by route
 * pattern ("unmatched" for none), method and status, latencies, and
 * errors by code (api_reply_error). Registers the families (once). */
void api_stats_init(void);
void api_stats_request(const char *route, const char *method, unsigned status, uint64_t ns);
void api_stats_error(enum err_code code);
/* GET /metrics: the process's registry in the text format (a handler
 * for a program's route table; thawd and thaw-control make it admin). */
enum MHD_Result api_metrics_reply(struct api_req *r);

/* console.c: GET /console/... (a public route in thawd's and the control
 * plane's tables): the web console's files, built into the binary. */
enum MHD_Result api_console(struct api_req *r);

/* server.c: a program's API. */
struct api_keys;
struct api_service {
	const struct api_route *routes;
	size_t nroutes;
	void *app; /* handed to handlers as api_req.app */
	const char *listen_addr;
	int listen_port;
	const char *upload_dir; /* where body_to_file bodies go (O_TMPFILE) */
	int rate_limit;		/* requests a second for keys without their own */
	/* Called after the key, its rate and role were checked and before
	 * the body is handed over; replies and returns false to stop the
	 * request there. NULL: none. */
	bool (*admit)(struct api_req *r, const struct api_route *route, enum MHD_Result *res);
	/* For a public route that takes a file (body_to_file): whether its
	 * body may be stored, decided from the URL and headers before the
	 * body arrives (params: the path's placeholders), so that a request
	 * no key vouches for cannot fill the upload dir. false: the body is
	 * dropped and the handler runs without it. NULL: stored. */
	bool (*public_body)(void *app, struct MHD_Connection *conn, const struct api_route *route,
			    const char *const *params);
	/* Called when the server stops, after it stopped taking connections:
	 * makes the requests in progress return (NULL: none). */
	void (*interrupt)(void *app);
	/* The request's key when a program's clients do not send
	 * Authorization: Bearer (NULL: only that). Called before the body,
	 * for routes that are not public; returns one of keys's entries, or
	 * acting filled in (a key acting for someone that is not in keys:
	 * it has no rate of its own), or NULL for none (401). */
	const struct api_key *(*find_key)(void *app, struct MHD_Connection *conn,
					  const struct api_keys *keys, struct api_key *acting);
	/* The body of the server's own refusals (401, 403, 404 for an
	 * unknown route, 405, 413, 429: status) in the program's shape;
	 * the server adds Content-Type (application/json), Allow and, to an
	 * object that has none, "request_id". NULL, or a NULL answer: thaw's
	 * {"error", "code", "request_id"}. */
	json_t *(*refusal_body)(const struct api_req *r, unsigned status, const char *msg);
};

struct api_server;
/* Takes over keys (freed by api_server_stop, or here on failure); svc
 * is copied. */
int api_server_start(const struct api_service *svc, struct api_keys *keys,
		     struct api_server **out, struct thaw_err **err);
/* Stops taking connections, interrupts what runs (svc.interrupt), waits
 * for the requests in progress to finish. */
void api_server_stop(struct api_server *s);
/* stats.c: a listener that serves only GET /metrics, without a key (for
 * an internal address: what it shows is the host's load and names). */
int api_metrics_listen(const char *addr, int port, struct api_server **out,
		       struct thaw_err **err);

/* An upgraded connection's handle, held by a thread of the program (a
 * shell): api_upgrade_held when the program takes it (in the upgrade
 * callback), api_upgrade_close to close it. api_server_stop waits a few
 * seconds for held handles to close before the daemon frees them. */
void api_upgrade_held(void);
void api_upgrade_close(struct MHD_UpgradeResponseHandle *urh);

#endif
