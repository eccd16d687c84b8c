/* libFuzzer: request bodies (api/validate.c). The first byte picks the
 * validator, the rest is the body as the server would parse it
 * (create covers network policies too). Each
 * either accepts (and its result frees cleanly) or refuses with an
 * error; nothing crashes, leaks or reads out of bounds. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "api/validate.h"

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
