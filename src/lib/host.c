/* GET /v1/hosts and POST /v1/hosts/{name}/drain: a fleet's hosts, as its
 * control plane (thaw-control) knows them. */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static int host_parse(const json_t *o, void **out, thaw_error **err)
{
	if (!json_is_object(o))
		return tl_error_set(err, 0, TL_PROTOCOL, "a host is not a JSON object");
	thaw_host *h = tl_xcalloc(1, sizeof(*h));
	if (tl_json_need_str(o, "name", "a host", &h->name, err) < 0 ||
	    tl_json_need_str(o, "state", "a host", &h->state, err) < 0) {
		thaw_host_free(h);
		return -1;
	}
	h->address = tl_json_strdup(o, "address");
	h->accel = tl_json_strdup(o, "accel");
	h->cpu_model = tl_json_strdup(o, "cpu_model");
	h->last_heartbeat = tl_json_strdup(o, "last_heartbeat");
	json_t *cap = json_object_get(o, "capacity"), *used = json_object_get(o, "used");
	h->memory_mb = tl_json_int_or_0(cap, "memory_mb");
	h->vcpus = tl_json_int_or_0(cap, "vcpus");
	h->max_sandboxes = tl_json_int_or_0(cap, "max_sandboxes");
	h->sandboxes = tl_json_int_or_0(used, "sandboxes");
	json_t *t = json_object_get(o, "templates_cached");
	h->templates = json_is_array(t) ? (int)json_array_size(t) : 0;
	h->json = tl_json_dump(o);
	*out = h;
	return 0;
}

THAW_API void thaw_host_free(thaw_host *h)
{
	if (!h)
		return;
	free(h->name);
	free(h->state);
	free(h->address);
	free(h->accel);
	free(h->cpu_model);
	free(h->last_heartbeat);
	free(h->json);
	free(h);
}

THAW_API void thaw_host_list_free(thaw_host **list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		thaw_host_free(list[i]);
	free(list);
}

static void host_item_free(void *item)
{
	thaw_host_free(item);
}

THAW_API int thaw_host_list(thaw_client *client, thaw_host ***out, size_t *n, thaw_error **err)
{
	return tl_list_call(client, "/v1/hosts", "hosts", host_parse, host_item_free, (void ***)out,
			    n, err);
}

THAW_API int thaw_host_remove(thaw_client *client, const char *name, thaw_error **err)
{
	if (tl_check_id(name, "host name", err) < 0)
		return -1;
	char path[192];
	snprintf(path, sizeof(path), "/v1/hosts/%s", name);
	struct tl_request req = { .method = "DELETE", .path = path, .expect = 204 };
	return tl_http_call(client, &req, NULL, err);
}

THAW_API int thaw_host_drain(thaw_client *client, const char *name, thaw_error **err)
{
	if (tl_check_id(name, "host name", err) < 0)
		return -1;
	char path[192];
	snprintf(path, sizeof(path), "/v1/hosts/%s/drain", name);
	json_t *body = json_object();
	struct tl_request req = { .method = "POST", .path = path, .body = body, .expect = 200 };
	int rc = tl_http_call(client, &req, NULL, err);
	json_decref(body);
	return rc;
}
