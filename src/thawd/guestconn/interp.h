/* The code interpreter's answers (templates/code-interpreter's
 * interp.py, reached through the guest agent's thaw:run-code): NDJSON
 * events of a cell, or one JSON object for a context operation. They come
 * from inside the guest, so each line is checked and rebuilt from the
 * known fields only; nothing the guest sends reaches a client unchecked.
 *
 * Events of a cell (see docs/api.md, run_code):
 *   {"type":"stdout"|"stderr","text"}
 *   {"type":"result","is_main_result",  "text","html","markdown","svg",
 *    "png","jpeg","pdf","latex","javascript" (strings; images base64),
 *    "json" (object or array)}
 *   {"type":"error","name","value","traceback"}
 *   {"type":"end","duration_ms"} */
#ifndef THAW_GUESTCONN_INTERP_H
#define THAW_GUESTCONN_INTERP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* Longest line accepted from the interpreter: a result carries each field
 * up to 16 MiB (base64). */
#define INTERP_MAX_LINE (40u << 20)

/* One event line (without its newline) checked and rebuilt: a new
 * reference, or NULL and err (ERR_GUEST) when it is not a valid event. */
json_t *interp_event_parse(const uint8_t *line, size_t len, struct thaw_err **err);

/* Splits a byte stream into lines. */
struct interp_lines {
	struct buf partial;
	bool skipping; /* inside a line past the limit */
	bool too_long; /* one was: set for good */
};
typedef void (*interp_line_fn)(const uint8_t *line, size_t len, void *ud);
/* Calls fn for each complete line in data (with what came before);
 * a line longer than INTERP_MAX_LINE sets too_long and is dropped. */
void interp_lines_feed(struct interp_lines *l, const uint8_t *data, size_t len, interp_line_fn fn,
		       void *ud);
void interp_lines_free(struct interp_lines *l);

/* A whole cell's answer, built from its events. */
struct interp_answer {
	json_t *results; /* array */
	struct buf out, err;
	json_t *error;	/* the error event without "type", or NULL */
	bool ended;	/* the "end" event came */
	double duration_ms;
};
void interp_answer_init(struct interp_answer *a);
/* Adds an event (borrowed) of interp_event_parse. */
void interp_answer_add(struct interp_answer *a, json_t *event);
/* {"results", "stdout", "stderr", "error", "result" (the main result's
 * text, or null)}: a new reference. */
json_t *interp_answer_json(const struct interp_answer *a);
void interp_answer_free(struct interp_answer *a);

/* A context operation's one-line answer: the object, a new reference, or
 * NULL and err: ERR_GUEST when malformed, ERR_NOT_FOUND / ERR_INVALID /
 * ERR_CONFLICT when the interpreter refused (its message). */
json_t *interp_reply_parse(const uint8_t *data, size_t len, struct thaw_err **err);

/* A context as the interpreter describes it ({"id", "cwd", "env", "pid"}),
 * checked and rebuilt with "language": a new reference, or NULL and err. */
json_t *interp_context_check(json_t *ctx, struct thaw_err **err);

#endif
