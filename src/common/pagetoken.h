/* The "next" token of a paged sandbox list (thawd's and the control
 * plane's): a place in the order (a time, then an id) that the next page
 * starts after. Opaque to clients (hex of "TIME.ID"), checked like any
 * input: anything this module did not make is refused. */
#ifndef THAW_PAGETOKEN_H
#define THAW_PAGETOKEN_H

#include <stdint.h>

#include "err.h"
#include "ids.h"

#define PAGE_TOKEN_MAX (2 * (20 + 1 + SANDBOX_ID_LEN) + 1)

/* when: >= 0, in whatever unit the list orders by. */
void page_token_make(int64_t when, const char *id, char out[PAGE_TOKEN_MAX]);
/* ERR_INVALID for anything but a token page_token_make made. */
int page_token_parse(const char *token, int64_t *when, char id[SANDBOX_ID_LEN + 1],
		     struct thaw_err **err);

#endif
