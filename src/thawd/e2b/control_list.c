/* GET /v2/sandboxes (and /sandboxes): the key's sandboxes, filtered and
 * paged as the SDK's Sandbox.list() asks; the next page's token in the
 * x-next-token header, as E2B sends it. Order and tokens are /v1's
 * (api/sblist.h): by creation time, then id; a token names the last
 * sandbox shown, so a sandbox that exists while a client pages through
 * is shown once. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/registry.h"
#include "e2b/control.h"
#include "e2b/list_query.h"

static int one_param(void *lq, const char *name, const char *value, struct thaw_err **err)
{
	return e2b_list_param(lq, name, value, err);
}

static bool query_picks(void *ctx, const struct sandbox *sb, enum sb_state state)
{
	const struct e2b_list_query *lq = ctx;
	bool paused = strcmp(e2b_state_name(state), "paused") == 0;
	return sblist_match(&lq->q, sb->owner, sb->template_name, state, sb->created_at, sb->id,
			    sb->metadata) &&
	       e2b_list_match(lq, paused, sb->created_at, sb->id);
}

enum MHD_Result e2b_reply_page(struct api_req *r, json_t *arr, const char *next)
{
	char *text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (!text)
		return e2b_reply_fail(r, ERR_INTERNAL, "the list could not be encoded");
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (next)
		MHD_add_response_header(resp, "x-next-token", next);
	return api_queue(r, MHD_HTTP_OK, resp);
}

enum MHD_Result e2b_list(struct api_req *r)
{
	struct e2b_list_query lq;
	e2b_list_query_init(&lq);
	_cleanup_err_ struct thaw_err *err = NULL;
	if (api_query_each(r, 4096, one_param, &lq, &err) < 0) {
		e2b_list_query_free(&lq);
		return e2b_reply_error(r, err);
	}
	size_t n, count;
	struct sandbox **list = registry_list(api_host(r), &n);
	struct sblist_item *v = sblist_select(r, list, n, query_picks, &lq, lq.desc, &count);
	json_t *arr = json_array();
	size_t shown = count < lq.q.limit ? count : lq.q.limit;
	for (size_t i = 0; i < shown; i++)
		json_array_append_new(arr, e2b_sandbox_info_json(api_host(r), v[i].sb, false));
	char tok[PAGE_TOKEN_MAX] = "";
	if (count > shown)
		page_token_make(v[shown - 1].sb->created_at, v[shown - 1].sb->id, tok);
	free(v);
	registry_list_free(api_host(r), list, n);
	e2b_list_query_free(&lq);
	return e2b_reply_page(r, arr, tok[0] ? tok : NULL);
}
