/* libFuzzer: a Connect streaming request's body as the E2B front reads it
 * (src/thawd/e2b/envelope.c): anything is refused or parsed, never a
 * crash; what parses is one envelope of exactly the body's length whose
 * JSON is an object, and writing that object again reads back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "e2b/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	json_t *msg = NULL;
	struct thaw_err *err = NULL;
	if (connect_envelope_parse(data, len, 4096, &msg, &err) == 0) {
		if (!json_is_object(msg) || len < CONNECT_HEADER_LEN || data[0] != 0)
			abort();
		char *text = json_dumps(msg, JSON_COMPACT);
		struct buf b = { 0 };
		connect_envelope_put(&b, 0, text, strlen(text));
		json_t *again = NULL;
		if (connect_envelope_parse(b.data, b.len, b.len, &again, NULL) != 0 ||
		    !json_equal(msg, again))
			abort();
		json_decref(again);
		buf_free(&b);
		free(text);
		json_decref(msg);
	}
	err_free(err);
	return 0;
}
