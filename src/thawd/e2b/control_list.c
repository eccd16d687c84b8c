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

struct params_ctx {
	struct e2b_list_query *lq;
	struct thaw_err *err;
};

static enum MHD_Result one_param(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	(void)kind;
	struct params_ctx *x = cls;
	char name[256], v[4096];
	if (api_query_decode(key, name, sizeof(name)) < 0 ||
	    api_query_decode(value ? value : "", v, sizeof(v)) < 0) {
		err_set(&x->err, ERR_INVALID, "a query parameter is malformed or too long");
		return MHD_NO;
	}
	return e2b_list_param(x->lq, name, v, &x->err) < 0 ? MHD_NO : MHD_YES;
}

struct listed {
	struct sandbox *sb;
	enum sb_state state;
};

static int by_place(const void *a, const void *b)
{
	const struct sandbox *x = ((const struct listed *)a)->sb,
			     *y = ((const struct listed *)b)->sb;
	return sblist_cmp(x->created_at, x->id, y->created_at, y->id);
}

static int by_place_desc(const void *a, const void *b)
{
	return -by_place(a, b);
}

static struct listed *select_sorted(struct api_req *r, const struct e2b_list_query *lq,
				    struct sandbox **list, size_t n, size_t *count)
{
	struct listed *v = xcalloc(n ? n : 1, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct sandbox *sb = list[i];
		pthread_mutex_lock(&sb->lock);
		enum sb_state state = sb->state;
		pthread_mutex_unlock(&sb->lock);
		bool paused = strcmp(e2b_state_name(state), "paused") == 0;
		if (api_key_sees(r, sb) &&
		    sblist_match(&lq->q, sb->owner, sb->template_name, state, sb->created_at,
				 sb->id, sb->metadata) &&
		    e2b_list_match(lq, paused, sb->created_at, sb->id))
			v[k++] = (struct listed){ .sb = sb, .state = state };
	}
	qsort(v, k, sizeof(*v), lq->desc ? by_place_desc : by_place);
	*count = k;
	return v;
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
	enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result e2b_list(struct api_req *r)
{
	struct e2b_list_query lq;
	e2b_list_query_init(&lq);
	struct params_ctx x = { .lq = &lq };
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, one_param, &x);
	if (x.err) {
		enum MHD_Result res = e2b_reply_error(r, x.err);
		err_free(x.err);
		e2b_list_query_free(&lq);
		return res;
	}
	size_t n, count;
	struct sandbox **list = registry_list(api_host(r), &n);
	struct listed *v = select_sorted(r, &lq, list, n, &count);
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
