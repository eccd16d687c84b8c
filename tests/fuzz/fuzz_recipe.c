/* libFuzzer: recipe.conf parsing (template/recipe.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template/recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *text = malloc(len + 1);
	if (!text)
		return 0;
	memcpy(text, data, len);
	text[len] = '\0';
	struct recipe r;
	memset(&r, 0, sizeof(r)); /* recipe_parse fills a zeroed recipe (recipe_load's way) */
	struct thaw_err *err = NULL;
	recipe_parse(text, &r, &err);
	recipe_free(&r); /* also after a refusal: what it filled so far */
	err_free(err);
	free(text);
	return 0;
}
