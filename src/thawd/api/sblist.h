/* GET /v1/sandboxes: its filters and its pages, as pure functions (unit
 * tested) beside the handler.
 *
 * Order: by creation time, then id, both fixed for a sandbox's life.
 * A page's "next" token names the last sandbox it showed; the next page
 * starts after that place in the order, so a sandbox that exists while
 * a client pages through is shown exactly once, whatever is created or
 * deleted meanwhile. The token: common/pagetoken.h. */
#ifndef THAW_API_SBLIST_H
#define THAW_API_SBLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sbstate.h"
#include "err.h"
#include "ids.h"
#include "pagetoken.h"

#define SBLIST_LIMIT_MAX 1000
/* As many as a page may hold: a client that knows no pages (every
 * client before them) still gets a whole list up to that many. */
#define SBLIST_LIMIT_DEFAULT SBLIST_LIMIT_MAX
#define SBLIST_META_MAX 16 /* metadata.KEY filters in one query */

struct sblist_query {
	int state;		      /* enum sb_state, or -1: any */
	char template_name[64];	      /* "": any */
	char owner[KEY_NAME_MAX + 1]; /* "": any the key sees */
	size_t nmeta;
	char *meta_key[SBLIST_META_MAX], *meta_value[SBLIST_META_MAX]; /* owned */
	size_t limit;
	bool has_after; /* from "next": only what comes after this place */
	int64_t after_created;
	char after_id[SANDBOX_ID_LEN + 1];
};

void sblist_query_init(struct sblist_query *q);
void sblist_query_free(struct sblist_query *q);
/* One decoded query parameter (state, template, owner, limit, next,
 * metadata.KEY) into q; any other name, or a bad value, is ERR_INVALID. */
int sblist_param(struct sblist_query *q, const char *name, const char *value,
		 struct thaw_err **err);

/* Where a sandbox is in the order: <0, 0, >0 as a comes before b. */
int sblist_cmp(int64_t created_a, const char *id_a, int64_t created_b, const char *id_b);

/* Whether a sandbox passes q's filters (the cursor included); metadata
 * is its JSON object text. A metadata filter matches a string value
 * equal to it, or another value whose JSON text is (3, true). */
bool sblist_match(const struct sblist_query *q, const char *owner, const char *template_name,
		  enum sb_state state, int64_t created, const char *id, const char *metadata);

#endif
