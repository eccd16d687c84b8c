/* thaw_sandbox_list_where: GET /v1/sandboxes with filters, page after
 * page (the server's "next" token) until the last. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* "&name=value", value escaped, appended to a string made with asprintf. */
static void add_param(thaw_client *c, char **q, const char *name, const char *value)
{
	char *esc = curl_easy_escape(c->curl, value, 0);
	char *more = NULL;
	if (!esc || asprintf(&more, "%s&%s=%s", *q, name, esc) < 0)
		abort();
	curl_free(esc);
	free(*q);
	*q = more;
}

static int query_build(thaw_client *c, const thaw_list_options *o, char **out, thaw_error **err)
{
	char *q = strdup("");
	if (!q)
		abort();
	if (o && o->state)
		add_param(c, &q, "state", o->state);
	if (o && o->template_name)
		add_param(c, &q, "template", o->template_name);
	if (o && o->owner)
		add_param(c, &q, "owner", o->owner);
	for (size_t i = 0; o && o->metadata && o->metadata[i]; i++) {
		const char *kv = o->metadata[i], *eq = strchr(kv, '=');
		if (!eq || eq == kv) {
			free(q);
			return tl_error_set(err, 0, TL_INVALID,
					    "metadata filters are KEY=VALUE, not \"%s\"", kv);
		}
		char *key = strndup(kv, (size_t)(eq - kv)), *name = NULL;
		char *esc = key ? curl_easy_escape(c->curl, key, 0) : NULL;
		if (!esc || asprintf(&name, "metadata.%s", esc) < 0)
			abort();
		curl_free(esc);
		free(key);
		add_param(c, &q, name, eq + 1);
		free(name);
	}
	*out = q;
	return 0;
}

/* One page's sandboxes appended to *list; its "next" token (a new
 * string) or NULL on the last page. */
static int page_take(const json_t *resp, thaw_sandbox ***list, size_t *n, char **next,
		     thaw_error **err)
{
	const json_t *arr = json_object_get(resp, "sandboxes");
	const json_t *tok = json_object_get(resp, "next");
	if (!json_is_array(arr) || (tok && !json_is_null(tok) && !json_is_string(tok)))
		return tl_error_set(err, 0, TL_PROTOCOL, "the sandbox list has no sandboxes array");
	size_t add = json_array_size(arr);
	thaw_sandbox **grown = realloc(*list, (*n + add + 1) * sizeof(*grown));
	if (!grown)
		abort();
	*list = grown;
	for (size_t i = 0; i < add; i++) {
		if (tl_sandbox_parse(json_array_get(arr, i), &(*list)[*n], err) < 0)
			return -1;
		(*n)++;
	}
	*next = json_is_string(tok) ? strdup(json_string_value(tok)) : NULL;
	return 0;
}

THAW_API int thaw_sandbox_list_where(thaw_client *client, const thaw_list_options *opts,
				     thaw_sandbox ***out, size_t *n, thaw_error **err)
{
	char *q = NULL, *next = NULL;
	if (query_build(client, opts, &q, err) < 0)
		return -1;
	thaw_sandbox **list = NULL;
	size_t count = 0;
	int rc = 0;
	do {
		char *path = NULL;
		char *esc = next ? curl_easy_escape(client->curl, next, 0) : NULL;
		if (asprintf(&path, "/v1/sandboxes?%s%s%s", q[0] ? q + 1 : "",
			     esc ? (q[0] ? "&next=" : "next=") : "", esc ? esc : "") < 0)
			abort();
		curl_free(esc);
		free(next);
		next = NULL;
		struct tl_request req = { .method = "GET", .path = path, .expect = 200 };
		json_t *resp = NULL;
		rc = tl_http_call(client, &req, &resp, err);
		free(path);
		if (rc == 0)
			rc = page_take(resp, &list, &count, &next, err);
		json_decref(resp);
	} while (rc == 0 && next);
	free(q);
	free(next);
	if (rc < 0) {
		thaw_sandbox_list_free(list, count);
		return -1;
	}
	if (!count) {
		free(list);
		list = NULL;
	}
	*out = list;
	*n = count;
	return 0;
}
