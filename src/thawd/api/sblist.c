/* GET /v1/sandboxes?state=&template=&owner=&metadata.KEY=&limit=&next= */
#include "api/sblist.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "buf.h"
#include "core/registry.h"
#include "core/sandbox.h"
#include "httpapi/keys.h"

#define META_PREFIX "metadata."

void sblist_query_init(struct sblist_query *q)
{
	memset(q, 0, sizeof(*q));
	q->state = -1;
	q->limit = SBLIST_LIMIT_DEFAULT;
}

void sblist_query_free(struct sblist_query *q)
{
	for (size_t i = 0; i < q->nmeta; i++) {
		free(q->meta_key[i]);
		free(q->meta_value[i]);
	}
	q->nmeta = 0;
}

static int param_meta(struct sblist_query *q, const char *key, const char *value,
		      struct thaw_err **err)
{
	if (!*key)
		return err_set(err, ERR_INVALID, "metadata filters are metadata.KEY=VALUE");
	if (q->nmeta == SBLIST_META_MAX)
		return err_set(err, ERR_INVALID, "at most %d metadata filters", SBLIST_META_MAX);
	q->meta_key[q->nmeta] = xstrdup(key);
	q->meta_value[q->nmeta] = xstrdup(value);
	q->nmeta++;
	return 0;
}

static int param_limit(struct sblist_query *q, const char *value, struct thaw_err **err)
{
	char *end;
	long n = strtol(value, &end, 10);
	if (!*value || *end || n < 1 || n > SBLIST_LIMIT_MAX)
		return err_set(err, ERR_INVALID, "limit must be 1 to %d", SBLIST_LIMIT_MAX);
	q->limit = (size_t)n;
	return 0;
}

static int param_state(struct sblist_query *q, const char *value, struct thaw_err **err)
{
	enum sb_state s;
	_cleanup_err_ struct thaw_err *ignored = NULL;
	if (sb_state_parse(value, &s, &ignored) < 0)
		return err_set(err, ERR_INVALID, "state \"%.32s\" is none of a sandbox's states",
			       value);
	q->state = (int)s;
	return 0;
}

int sblist_param(struct sblist_query *q, const char *name, const char *value, struct thaw_err **err)
{
	if (strncmp(name, META_PREFIX, strlen(META_PREFIX)) == 0)
		return param_meta(q, name + strlen(META_PREFIX), value, err);
	if (strcmp(name, "limit") == 0)
		return param_limit(q, value, err);
	if (strcmp(name, "state") == 0)
		return param_state(q, value, err);
	if (strcmp(name, "template") == 0) {
		if (!id_valid_template(value))
			return err_set(err, ERR_INVALID, "template \"%.64s\" is no template name",
				       value);
		snprintf(q->template_name, sizeof(q->template_name), "%s", value);
		return 0;
	}
	if (strcmp(name, "owner") == 0) {
		if (!id_valid_key_name(value))
			return err_set(err, ERR_INVALID, "owner must be an API key name");
		snprintf(q->owner, sizeof(q->owner), "%s", value);
		return 0;
	}
	if (strcmp(name, "next") == 0) {
		if (page_token_parse(value, &q->after_created, q->after_id, err) < 0)
			return -1;
		q->has_after = true;
		return 0;
	}
	return err_set(err, ERR_INVALID,
		       "unknown query parameter \"%.64s\" (state, template, owner, "
		       "metadata.KEY, limit, next)",
		       name);
}

int sblist_cmp(int64_t created_a, const char *id_a, int64_t created_b, const char *id_b)
{
	if (created_a != created_b)
		return created_a < created_b ? -1 : 1;
	return strcmp(id_a, id_b);
}

static bool meta_equal(json_t *v, const char *want)
{
	if (!v)
		return false;
	if (json_is_string(v))
		return strcmp(json_string_value(v), want) == 0;
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	bool eq = text && strcmp(text, want) == 0;
	free(text);
	return eq;
}

static bool meta_match(const struct sblist_query *q, const char *metadata)
{
	if (!q->nmeta)
		return true;
	json_t *md = metadata ? json_loads(metadata, 0, NULL) : NULL;
	bool ok = json_is_object(md);
	for (size_t i = 0; ok && i < q->nmeta; i++)
		ok = meta_equal(json_object_get(md, q->meta_key[i]), q->meta_value[i]);
	json_decref(md);
	return ok;
}

bool sblist_match(const struct sblist_query *q, const char *owner, const char *template_name,
		  enum sb_state state, int64_t created, const char *id, const char *metadata)
{
	if (q->state >= 0 && (int)state != q->state)
		return false;
	if (q->template_name[0] && strcmp(q->template_name, template_name) != 0)
		return false;
	if (q->owner[0] && strcmp(q->owner, owner) != 0)
		return false;
	if (q->has_after && sblist_cmp(created, id, q->after_created, q->after_id) <= 0)
		return false;
	return meta_match(q, metadata);
}

/* ---- the handler ------------------------------------------------------ */

static int one_param(void *q, const char *name, const char *value, struct thaw_err **err)
{
	return sblist_param(q, name, value, err);
}

static int by_place(const void *a, const void *b)
{
	const struct sandbox *x = ((const struct sblist_item *)a)->sb,
			     *y = ((const struct sblist_item *)b)->sb;
	return sblist_cmp(x->created_at, x->id, y->created_at, y->id);
}

static int by_place_desc(const void *a, const void *b)
{
	return -by_place(a, b);
}

struct sblist_item *sblist_select(struct api_req *r, struct sandbox **list, size_t n,
				  sblist_pick_fn pick, void *ctx, bool desc, size_t *count)
{
	struct sblist_item *v = xcalloc(n ? n : 1, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct sandbox *sb = list[i];
		pthread_mutex_lock(&sb->lock);
		enum sb_state state = sb->state;
		pthread_mutex_unlock(&sb->lock);
		if (api_key_sees(r, sb) && pick(ctx, sb, state))
			v[k++] = (struct sblist_item){ .sb = sb, .state = state };
	}
	qsort(v, k, sizeof(*v), desc ? by_place_desc : by_place);
	*count = k;
	return v;
}

static bool query_picks(void *q, const struct sandbox *sb, enum sb_state state)
{
	return sblist_match(q, sb->owner, sb->template_name, state, sb->created_at, sb->id,
			    sb->metadata);
}

enum MHD_Result api_sandbox_list(struct api_req *r)
{
	struct sblist_query q;
	sblist_query_init(&q);
	_cleanup_err_ struct thaw_err *err = NULL;
	if (api_query_each(r, 1024, one_param, &q, &err) < 0) {
		sblist_query_free(&q);
		return api_reply_error(r, err);
	}
	if (q.owner[0] && r->key->role != KEY_ADMIN && strcmp(q.owner, r->key->name) != 0) {
		sblist_query_free(&q);
		return api_reply_fail(r, ERR_FORBIDDEN,
				      "only admin keys list another owner's "
				      "sandboxes");
	}
	size_t n, count;
	struct sandbox **list = registry_list(api_host(r), &n);
	struct sblist_item *v = sblist_select(r, list, n, query_picks, &q, false, &count);
	json_t *arr = json_array();
	size_t shown = count < q.limit ? count : q.limit;
	for (size_t i = 0; i < shown; i++)
		json_array_append_new(arr, api_sandbox_json(api_host(r), v[i].sb, false));
	json_t *next = json_null();
	if (count > shown) {
		char tok[PAGE_TOKEN_MAX];
		page_token_make(v[shown - 1].sb->created_at, v[shown - 1].sb->id, tok);
		next = json_string(tok);
	}
	free(v);
	registry_list_free(api_host(r), list, n);
	sblist_query_free(&q);
	return api_reply_json(r, MHD_HTTP_OK,
			      json_pack("{s:o,s:o}", "sandboxes", arr, "next", next));
}
