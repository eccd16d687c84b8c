/* The E2B code interpreter (port 49999, what @e2b/code-interpreter
 * speaks): /execute and /contexts, mapped onto thaw's code interpreter
 * (ops/run_code.c: sandbox_run_code, sandbox_interp_op). interp_wire.c
 * holds the pure part (request bodies in, E2B's NDJSON lines and context
 * objects out), interp_execute.c and interp_contexts.c the handlers. */
#ifndef THAW_E2B_INTERP_H
#define THAW_E2B_INTERP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "e2b/e2b.h"

/* POST /execute {code, context_id, language, env_vars}; null is absent
 * (what a client that sends every field writes). Borrowed from the body. */
struct e2b_execute {
	const char *code;
	const char *context; /* NULL: the default context */
	json_t *env;	     /* NULL or an object of strings */
};

/* ERR_INVALID for a malformed body; ERR_NOT_FOUND for a language other
 * than python or a context id that cannot exist (the SDK shows the
 * message of a 404 only; see docs/e2b.md). */
int e2b_execute_parse(json_t *body, struct e2b_execute *out, struct thaw_err **err);
/* POST /contexts {language, cwd}: *cwd borrowed, NULL for the default. */
int e2b_context_parse(json_t *body, const char **cwd, struct thaw_err **err);
/* A language given by the SDK: 0 for NULL, null or "python". */
int e2b_interp_language(json_t *language, struct thaw_err **err);

/* One of thaw's checked cell events (guestconn/interp.h) as E2B's NDJSON
 * line: a new reference, or NULL for an event E2B has no line for
 * ("end": the handler sends end_of_execution itself). now_ns: the
 * stdout/stderr timestamp (Unix epoch, nanoseconds). */
json_t *e2b_interp_line(json_t *event, int64_t now_ns);
/* The line for a failure of the sandbox rather than of the code, once
 * the answer has started: an error E2B's SDK puts in execution.error. */
json_t *e2b_interp_failure_line(const struct thaw_err *e);
/* A context checked by interp_context_check as E2B's {id, language,
 * cwd}: a new reference. */
json_t *e2b_interp_context(json_t *ctx);

/* interp_contexts.c: 0 when the sandbox's interpreter has context ctx,
 * else ERR_NOT_FOUND (or why it could not tell). */
struct host;
int e2b_interp_context_exists(struct host *h, const char *id, const char *ctx,
			      struct thaw_err **err);
/* The body of a request as a JSON object (any, for an empty body when
 * empty_ok), or NULL after replying 400 in E2B's shape. */
json_t *e2b_interp_body(struct api_req *r, bool empty_ok, enum MHD_Result *res);

/* Handlers (routes_interp.c). */
enum MHD_Result e2b_interp_execute(struct api_req *r);
enum MHD_Result e2b_interp_context_create(struct api_req *r);
enum MHD_Result e2b_interp_context_list(struct api_req *r);
enum MHD_Result e2b_interp_context_delete(struct api_req *r);
enum MHD_Result e2b_interp_context_restart(struct api_req *r);

#endif
