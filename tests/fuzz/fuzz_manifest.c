/* libFuzzer: artifact manifests (objstore/manifest.c), read from an object
 * store another host (or anyone with write access to the bucket) wrote:
 * anything malformed is refused as a whole, never a crash; what parses
 * must write back out and parse again to the same windows. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct manifest m;
	struct thaw_err *err = NULL;
	if (manifest_parse((const char *)data, len, &m, &err) == 0) {
		char *json = manifest_to_json(&m);
		struct manifest again;
		if (!json || manifest_parse(json, strlen(json), &again, NULL) < 0)
			abort(); /* what thaw accepts, thaw must write back */
		for (int f = 0; f < MANIFEST_WFILE_COUNT; f++)
			if (again.files[f].nwindows != m.files[f].nwindows)
				abort();
		manifest_free(&again);
		free(json);
		manifest_free(&m);
	}
	err_free(err);
	return 0;
}
