/* libFuzzer: request bodies (api/validate.c, validate_proc.c). The first
 * byte picks the validator (0xf0 and up: the process table's bodies,
 * so that the older seeds keep theirs; create covers network policies
 * too), the rest is the body as the server would parse it. Each
 * either accepts (and its result frees cleanly) or refuses with an
 * error; nothing crashes, leaks or reads out of bounds. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "api/validate.h"

static void fuzz_process_bodies(uint8_t which, json_t *body, struct thaw_err **err)
{
	int signo;
	uint32_t a, b;
	struct proc_stdin_params sp;
	switch (which % 4) {
	case 0:
		validate_signal(body, &signo, err);
		break;
	case 1:
		if (validate_proc_stdin(body, &sp, err) == 0)
			buf_free(&sp.data);
		break;
	case 2:
		validate_resize(body, &a, &b, err);
		break;
	default:
		validate_wait(body, &a, err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	if (len < 1)
		return 0;
	json_t *body = json_loadb((const char *)data + 1, len - 1, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(body)) {
		json_decref(body);
		return 0;
	}
	struct thaw_err *err = NULL;
	if (data[0] >= 0xf0) {
		fuzz_process_bodies(data[0], body, &err);
		err_free(err);
		json_decref(body);
		return 0;
	}
	switch (data[0] % 7) {
	case 0: {
		struct create_req p;
		if (validate_create(body, 300, 86400, &p, &err) == 0)
			create_req_free(&p);
		break;
	}
	case 1: {
		/* The body's own env doubles as the sandbox's (the merge). */
		struct exec_params p;
		json_t *env = json_object_get(body, "env");
		if (validate_exec(body, &p, &err) == 0) {
			if (json_is_object(env))
				exec_params_add_sandbox_env(&p, env, &err);
			exec_params_free(&p);
		}
		break;
	}
	case 2: {
		struct bake_params p;
		validate_bake(body, &p, &err);
		break;
	}
	case 3: {
		struct fork_params p;
		validate_fork(body, &p, &err);
		break;
	}
	case 4: {
		struct snapshot_params p;
		validate_snapshot(body, &p, &err);
		break;
	}
	case 5: {
		int64_t t;
		validate_keepalive(body, 86400, &t, &err);
		break;
	}
	default:
		validate_empty(body, &err);
	}
	err_free(err);
	json_decref(body);
	return 0;
}
