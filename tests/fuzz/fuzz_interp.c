/* libFuzzer: what the code interpreter sends from inside the guest
 * (guestconn/interp.c): a byte stream split into lines, each line an
 * event checked and collected into an answer (and translated into the
 * E2B front's line, e2b/interp_wire.c); and the one-object answers of
 * context operations. The same bytes as an E2B /execute or /contexts
 * body (e2b/interp_wire.c). Nothing crashes, leaks or reads out of
 * bounds. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "e2b/interp.h"
#include "guestconn/interp.h"

static void on_line(const uint8_t *line, size_t len, void *ud)
{
	struct thaw_err *err = NULL;
	json_t *ev = interp_event_parse(line, len, &err);
	if (ev) {
		interp_answer_add(ud, ev);
		json_decref(e2b_interp_line(ev, 1));
	}
	json_decref(ev);
	err_free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct interp_answer a;
	interp_answer_init(&a);
	struct interp_lines l = { 0 };
	/* Two chunks: a line split between reads must come out whole. */
	size_t half = len / 2;
	interp_lines_feed(&l, data, half, on_line, &a);
	interp_lines_feed(&l, data + half, len - half, on_line, &a);
	json_decref(interp_answer_json(&a));
	interp_answer_free(&a);
	interp_lines_free(&l);

	struct thaw_err *err = NULL;
	json_t *reply = interp_reply_parse(data, len, &err);
	err_free(err);
	err = NULL;
	if (reply) {
		json_t *c = interp_context_check(json_object_get(reply, "context"), &err);
		json_decref(c);
		err_free(err);
	}
	json_decref(reply);

	/* A client's body (the E2B front parses it with jansson first). */
	json_t *body = json_loadb((const char *)data, len, JSON_DECODE_ANY, NULL);
	struct e2b_execute x;
	const char *cwd;
	err = NULL;
	e2b_execute_parse(body, &x, &err);
	err_free(err);
	err = NULL;
	e2b_context_parse(body, &cwd, &err);
	err_free(err);
	json_decref(body);
	return 0;
}
