/* libFuzzer: envd's process.Process messages as the E2B front reads them
 * (src/thawd/e2b/process_msg.c) and the answers it builds from what the
 * guest says (process_event.c). The first byte picks the parser, the rest
 * is its input: a JSON message, a header's value, or a command line from
 * the guest's table. Each accepts (with what the service relies on: an
 * exec with an argv, no timeout, kept on disconnect; a pid in range; a
 * bounded user) or refuses with an error; nothing crashes or leaks. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "e2b/process_msg.h"

static void fuzz_message(uint8_t which, json_t *msg, struct thaw_err **err)
{
	struct exec_params p;
	struct e2b_selector sel;
	struct buf data = { 0 };
	uint32_t rows, cols;
	int signo;
	static const char *const extra[] = { "input", "signal", "pty", NULL };
	switch (which % 6) {
	case 0:
		if (e2b_start_parse(msg, (which & 0x10) ? "user" : NULL, &p, err) == 0) {
			if (!p.argv || !p.argv[0] || p.timeout_ms != 0 || p.kill_on_disconnect)
				abort();
			exec_params_free(&p);
		}
		break;
	case 1:
		if (e2b_proc_request(msg, extra, &sel, err) == 0 && !sel.pid && !sel.tag[0])
			abort();
		break;
	case 2:
		e2b_input_parse(json_object_get(msg, "input"), &data, err);
		if (data.len > PROC_STDIN_MAX)
			abort();
		buf_free(&data);
		break;
	case 3:
		e2b_signal_parse(json_object_get(msg, "signal"), &signo, err);
		break;
	case 4:
		if (e2b_pty_size_parse(msg, &rows, &cols, err) == 0 &&
		    (!rows || !cols || rows > 9999 || cols > 9999))
			abort();
		break;
	default:
		if (e2b_selector_parse(msg, &sel, err) == 0 && sel.pid > 4194304)
			abort();
	}
}

/* Headers and the table's command line: text, NUL-terminated. */
static void fuzz_text(uint8_t which, const char *s, size_t len, struct thaw_err **err)
{
	char user[E2B_USER_MAX + 1];
	unsigned ka;
	uint64_t ms;
	switch (which % 4) {
	case 0:
		if (e2b_user_from_auth(s, user, err) == 0 && strlen(user) > E2B_USER_MAX)
			abort();
		break;
	case 1:
		e2b_keepalive_parse(s, &ka, err);
		break;
	case 2:
		e2b_timeout_parse(s, &ms, err);
		break;
	default: {
		struct agent_proc proc = { .pid = 7, .running = true, .cmd = (char *)s };
		memcpy(proc.tag, s, len < PROC_TAG_MAX ? len : PROC_TAG_MAX);
		json_t *info = e2b_process_info(&proc);
		json_t *end = e2b_event_end((int)len % 256, (int)len % 65);
		json_t *out = e2b_event_data("pty", (const uint8_t *)s, len);
		if (!json_is_object(json_object_get(info, "config")) || !end || !out)
			abort();
		json_decref(info);
		json_decref(end);
		json_decref(out);
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	if (len < 1)
		return 0;
	struct thaw_err *err = NULL;
	if (data[0] & 0x80) {
		char *s = malloc(len);
		memcpy(s, data + 1, len - 1);
		s[len - 1] = '\0';
		fuzz_text(data[0], s, strlen(s), &err);
		free(s);
	} else {
		json_t *msg = json_loadb((const char *)data + 1, len - 1,
					 JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
		if (msg)
			fuzz_message(data[0], msg, &err);
		json_decref(msg);
	}
	err_free(err);
	return 0;
}
