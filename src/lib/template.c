/* GET /v1/templates and the template object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* {"kind": K, "sandbox": S} as "K" or "K:S". */
static char *source_text(const json_t *src)
{
	const char *kind = json_string_value(json_object_get(src, "kind"));
	const char *sb = json_string_value(json_object_get(src, "sandbox"));
	if (!kind)
		return NULL;
	if (!sb)
		return tl_xstrdup(kind);
	size_t n = strlen(kind) + strlen(sb) + 2;
	char *out = tl_xmalloc(n);
	snprintf(out, n, "%s:%s", kind, sb);
	return out;
}

int tl_template_parse(const json_t *o, thaw_template **out, thaw_error **err)
{
	if (!json_is_object(o))
		return tl_error_set(err, 0, TL_PROTOCOL, "a template is not a JSON object");
	thaw_template *t = tl_xcalloc(1, sizeof(*t));
	if (tl_json_need_str(o, "name", "a template", &t->name, err) < 0 ||
	    tl_json_need_str(o, "status", "a template", &t->status, err) < 0) {
		thaw_template_free(t);
		return -1;
	}
	t->build_id = tl_json_strdup(o, "build_id");
	t->created_at = tl_json_strdup(o, "created_at");
	t->memory_mb = tl_json_int_or_0(o, "memory_mb");
	t->vcpus = tl_json_int_or_0(o, "vcpus");
	t->boot_ms = json_number_value(json_object_get(o, "boot_ms"));
	t->detail = tl_json_strdup(o, "detail");
	t->owner = tl_json_strdup(o, "owner");
	t->source = source_text(json_object_get(o, "source"));
	json_t *art = json_object_get(o, "artifacts");
	t->location = tl_json_strdup(art, "location");
	json_t *pct = json_object_get(art, "cached_percent");
	t->cached_percent = json_is_number(pct) ? json_number_value(pct) : -1;
	t->json = tl_json_dump(o);
	*out = t;
	return 0;
}

THAW_API void thaw_template_free(thaw_template *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->status);
	free(t->build_id);
	free(t->created_at);
	free(t->detail);
	free(t->owner);
	free(t->source);
	free(t->location);
	free(t->json);
	free(t);
}

THAW_API void thaw_template_list_free(thaw_template **list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		thaw_template_free(list[i]);
	free(list);
}

static int template_item(const json_t *o, void **out, thaw_error **err)
{
	return tl_template_parse(o, (thaw_template **)out, err);
}

static void template_item_free(void *item)
{
	thaw_template_free(item);
}

THAW_API int thaw_template_list(thaw_client *client, thaw_template ***out, size_t *n,
				thaw_error **err)
{
	return tl_list_call(client, "/v1/templates", "templates", template_item, template_item_free,
			    (void ***)out, n, err);
}
