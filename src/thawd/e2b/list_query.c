#include "e2b/list_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "e2b/control.h"
#include "httpapi/httpapi.h"
#include "timeutil.h"

void e2b_list_query_init(struct e2b_list_query *lq)
{
	memset(lq, 0, sizeof(*lq));
	sblist_query_init(&lq->q);
	lq->q.limit = E2B_LIST_LIMIT_DEFAULT;
}

void e2b_list_query_free(struct e2b_list_query *lq)
{
	sblist_query_free(&lq->q);
}

/* "k=v&k2=v2", each key and value percent-encoded (the SDK encodes them,
 * then the whole string once more as the parameter's value). */
static int param_metadata(struct e2b_list_query *lq, const char *value, struct thaw_err **err)
{
	_cleanup_free_ char *copy = xstrdup(value);
	char *save = NULL;
	for (char *pair = strtok_r(copy, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(pair, '=');
		if (!eq)
			return err_set(err, ERR_INVALID, "metadata must be k=v pairs joined by &");
		*eq = '\0';
		char k[256], v[1024], name[sizeof(k) + 16];
		if (api_query_decode(pair, k, sizeof(k)) < 0 ||
		    api_query_decode(eq + 1, v, sizeof(v)) < 0)
			return err_set(err, ERR_INVALID, "metadata has a malformed or long pair");
		snprintf(name, sizeof(name), "metadata.%s", k);
		if (sblist_param(&lq->q, name, v, err) < 0)
			return err_wrap(err, "metadata");
	}
	return 0;
}

static int param_state(struct e2b_list_query *lq, const char *value, struct thaw_err **err)
{
	_cleanup_free_ char *copy = xstrdup(value);
	char *save = NULL;
	for (char *s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		if (strcmp(s, "running") == 0)
			lq->running = true;
		else if (strcmp(s, "paused") == 0)
			lq->paused = true;
		else
			return err_set(err, ERR_INVALID,
				       "state \"%.32s\" is neither running nor paused", s);
	}
	return 0;
}

int e2b_list_param(struct e2b_list_query *lq, const char *name, const char *value,
		   struct thaw_err **err)
{
	if (strcmp(name, "metadata") == 0)
		return param_metadata(lq, value, err);
	if (strcmp(name, "state") == 0)
		return param_state(lq, value, err);
	if (strcmp(name, "limit") == 0)
		return sblist_param(&lq->q, "limit", value, err);
	if (strcmp(name, "template") == 0) {
		char thaw[64];
		if (strlen(value) >= sizeof(thaw))
			return err_set(err, ERR_INVALID, "template is longer than 63 characters");
		return e2b_template_resolve(value, thaw, err) < 0
			       ? -1
			       : sblist_param(&lq->q, "template", thaw, err);
	}
	if (strcmp(name, "nextToken") == 0) {
		if (page_token_parse(value, &lq->after_created, lq->after_id, err) < 0)
			return err_wrap(err, "nextToken");
		lq->has_after = true;
		return 0;
	}
	if (strcmp(name, "startedAfter") == 0) {
		if (time_parse_rfc3339(value, &lq->started_after) < 0)
			return err_set(err, ERR_INVALID, "startedAfter must be an RFC 3339 time");
		return 0;
	}
	if (strcmp(name, "order") == 0) {
		if (strcmp(value, "asc") != 0 && strcmp(value, "desc") != 0)
			return err_set(err, ERR_INVALID, "order must be asc or desc");
		lq->desc = strcmp(value, "desc") == 0;
		return 0;
	}
	return err_set(err, ERR_INVALID,
		       "unknown query parameter \"%.64s\" (metadata, state, template, "
		       "startedAfter, order, limit, nextToken)",
		       name);
}

bool e2b_list_match(const struct e2b_list_query *lq, bool paused, int64_t created, const char *id)
{
	if ((lq->running || lq->paused) && !(paused ? lq->paused : lq->running))
		return false;
	if (lq->started_after && created <= lq->started_after)
		return false;
	if (!lq->has_after)
		return true;
	int c = sblist_cmp(created, id, lq->after_created, lq->after_id);
	return lq->desc ? c < 0 : c > 0;
}
