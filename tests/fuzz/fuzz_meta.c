/* libFuzzer: template metadata (template/meta.c), read from disk before
 * any restore: a corrupt or hostile meta.json must be refused, never
 * crash thawd or half-fill a template. */
#include <stdint.h>
#include <stdlib.h>

#include "template/meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct template_meta m;
	struct thaw_err *err = NULL;
	meta_parse((const char *)data, len, &m, &err);
	err_free(err);
	return 0;
}
