/* Snapshots as E2B's SDK has them (createSnapshot, listSnapshots,
 * deleteSnapshot) are thaw's snapshot templates: a snapshot is a
 * template made from a running sandbox (ops/snapshot.c), its snapshotID
 * the template's name, so Sandbox.create(snapshotID) starts from it. As
 * with /v1, a user key's snapshot is private to it, an admin key's
 * shared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/vmmpool.h"
#include "e2b/control.h"
#include "e2b/list_query.h"
#include "httpapi/keys.h"
#include "template/catalog.h"

enum MHD_Result e2b_snapshot_create(struct api_req *r)
{
	enum MHD_Result res;
	struct sandbox *sb = e2b_control_sandbox(r, &res);
	if (!sb)
		return res;
	sandbox_unref(api_host(r), sb);
	json_t *body = e2b_body_object(r, true, &res);
	if (!body)
		return res;
	const char *given = NULL;
	json_error_t je;
	int bad = json_unpack_ex(body, &je, JSON_STRICT, "{s?s}", "name", &given);
	char name[TEMPLATE_NAME_MAX + 1];
	if (!bad && given && strlen(given) < sizeof(name))
		snprintf(name, sizeof(name), "%s", given);
	bool ok = !bad && (!given || (strlen(given) < sizeof(name) && id_valid_template(name)));
	json_decref(body);
	if (!ok)
		return e2b_reply_fail(r, ERR_INVALID,
				      "a snapshot takes {\"name\"}: a thaw template name (1-63 "
				      "characters of [a-z0-9-])");
	if (!given) {
		char id[SANDBOX_ID_LEN + 1];
		id_new_sandbox(id);
		snprintf(name, sizeof(name), "snap-%s", id + strlen(SANDBOX_ID_PREFIX));
	}
	const char *owner = r->key->role == KEY_ADMIN ? NULL : r->key->name;
	struct snapshot_result sr;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_snapshot(api_host(r), r->params[0], name, owner, &sr, &err) < 0)
		return e2b_reply_error(r, err);
	return api_reply_json(r, MHD_HTTP_CREATED,
			      json_pack("{s:s,s:[s]}", "snapshotID", name, "names", name));
}

/* The templates made from sandboxes that the key sees, by name. */
static bool listed(const struct api_req *r, const struct template_info *ti, const char *sandbox,
		   const char *name, const char *after)
{
	return strcmp(ti->status, "ready") == 0 && ti->meta.source_sandbox[0] &&
	       (!ti->owner[0] || r->key->role == KEY_ADMIN ||
		strcmp(ti->owner, r->key->name) == 0) &&
	       (!sandbox[0] || strcmp(ti->meta.source_sandbox, sandbox) == 0) &&
	       (!name[0] || strcmp(ti->name, name) == 0) &&
	       (!after[0] || strcmp(ti->name, after) > 0);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct template_info *)a)->name,
		      ((const struct template_info *)b)->name);
}

/* A query parameter checked by valid: 0 (absent: out ""), -1 replied. */
static int query_name(struct api_req *r, const char *name, bool (*valid)(const char *), char *out,
		      size_t size, enum MHD_Result *res)
{
	const char *raw = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
	out[0] = '\0';
	if (!raw)
		return 0;
	if (api_query_decode(raw, out, size) < 0 || !valid(out)) {
		*res = e2b_reply_fail(r, ERR_INVALID, "%s \"%.64s\" is malformed", name, raw);
		return -1;
	}
	return 0;
}

static bool valid_limit(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);
	return *s && !*end && n >= 1 && n <= SBLIST_LIMIT_MAX;
}

enum MHD_Result e2b_snapshot_list(struct api_req *r)
{
	enum MHD_Result res;
	char sandbox[SANDBOX_ID_LEN + 1], name[TEMPLATE_NAME_MAX + 1], after[TEMPLATE_NAME_MAX + 1],
		limit[8];
	if (query_name(r, "sandboxID", id_valid_sandbox, sandbox, sizeof(sandbox), &res) < 0 ||
	    query_name(r, "name", id_valid_template, name, sizeof(name), &res) < 0 ||
	    query_name(r, "nextToken", id_valid_template, after, sizeof(after), &res) < 0 ||
	    query_name(r, "limit", valid_limit, limit, sizeof(limit), &res) < 0)
		return res;
	size_t max = limit[0] ? (size_t)atoi(limit) : E2B_LIST_LIMIT_DEFAULT;
	struct template_info *items = NULL;
	size_t n = 0, k = 0;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (catalog_list(api_host(r)->catalog, &items, &n, &err) < 0)
		return e2b_reply_error(r, err);
	for (size_t i = 0; i < n; i++)
		if (listed(r, &items[i], sandbox, name, after))
			items[k++] = items[i];
	qsort(items, k, sizeof(*items), by_name);
	json_t *arr = json_array();
	for (size_t i = 0; i < k && i < max; i++)
		json_array_append_new(arr, json_pack("{s:s,s:[s]}", "snapshotID", items[i].name,
						     "names", items[i].name));
	const char *next = k > max ? items[max - 1].name : NULL;
	res = e2b_reply_page(r, arr, next);
	free(items);
	return res;
}

/* deleteSnapshot: DELETE /templates/{id}, as /v1's template delete (a
 * user key deletes its own; shared ones need an admin key). 404, which
 * the SDK reads as false, for one the key does not see. */
enum MHD_Result e2b_snapshot_delete(struct api_req *r)
{
	const char *id = r->params[0];
	struct template_info *items = NULL;
	size_t n = 0;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (!id_valid_template(id))
		return e2b_reply_fail(r, ERR_NOT_FOUND, "template %.64s does not exist", id);
	if (catalog_list(api_host(r)->catalog, &items, &n, &err) < 0)
		return e2b_reply_error(r, err);
	int found = -1; /* -1 none, 0 shared, 1 the key's own */
	for (size_t i = 0; i < n; i++)
		if (strcmp(items[i].name, id) == 0 &&
		    (!items[i].owner[0] || r->key->role == KEY_ADMIN ||
		     strcmp(items[i].owner, r->key->name) == 0))
			found = items[i].owner[0] ? 1 : 0;
	free(items);
	if (found < 0)
		return e2b_reply_fail(r, ERR_NOT_FOUND, "template %s does not exist", id);
	if (found == 0 && r->key->role != KEY_ADMIN)
		return e2b_reply_fail(r, ERR_FORBIDDEN,
				      "template %s is shared: deleting it needs an admin key", id);
	if (catalog_delete(api_host(r)->catalog, id, &err) < 0)
		return e2b_reply_error(r, err);
	vmmpool_poke(api_host(r)->vmms);
	return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
}
