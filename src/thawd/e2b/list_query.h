/* GET /v2/sandboxes's query, as pure functions (unit tested): E2B's
 * parameters onto /v1's filters (api/sblist.h) plus what E2B has and /v1
 * does not (two states at once, startedAfter, descending order). */
#ifndef THAW_E2B_LIST_QUERY_H
#define THAW_E2B_LIST_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "api/sblist.h"

#define E2B_LIST_LIMIT_DEFAULT 100 /* E2B's */

struct e2b_list_query {
	struct sblist_query q; /* metadata, template, limit; no cursor, no state */
	bool running, paused;  /* the states asked for; neither: both */
	int64_t started_after; /* 0: none */
	bool desc;	       /* newest first */
	bool has_after;	       /* nextToken: the last sandbox shown */
	int64_t after_created;
	char after_id[SANDBOX_ID_LEN + 1];
};

void e2b_list_query_init(struct e2b_list_query *lq);
void e2b_list_query_free(struct e2b_list_query *lq);
/* One decoded query parameter: metadata ("k=v&k2=v2", each side
 * percent-encoded once more), state (running,paused), template (E2B's
 * aliases too), startedAfter (RFC 3339), order (asc|desc), limit,
 * nextToken. Anything else, or a bad value, is ERR_INVALID naming it. */
int e2b_list_param(struct e2b_list_query *lq, const char *name, const char *value,
		   struct thaw_err **err);
/* Whether a sandbox (already past q's filters) passes the rest: its
 * E2B state, its start, the cursor in the order asked. */
bool e2b_list_match(const struct e2b_list_query *lq, bool paused, int64_t created, const char *id);

#endif
