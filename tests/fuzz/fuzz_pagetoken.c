/* libFuzzer: the "next" token of a paged sandbox list (common/pagetoken.c),
 * straight from a query string: anything is refused or parsed, never a
 * crash, and what parses is exactly what page_token_make would make of
 * it (no two spellings of one place). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pagetoken.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *s = malloc(len + 1);
	if (!s)
		return 0;
	memcpy(s, data, len);
	s[len] = '\0';
	int64_t when;
	char id[SANDBOX_ID_LEN + 1];
	struct thaw_err *err = NULL;
	if (page_token_parse(s, &when, id, &err) == 0) {
		char again[PAGE_TOKEN_MAX];
		page_token_make(when, id, again);
		if (strlen(s) == len && strcmp(again, s) != 0)
			abort();
	}
	err_free(err);
	free(s);
	return 0;
}
