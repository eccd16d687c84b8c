/* A sandbox's egress policy: its JSON for a create, and PATCH for a
 * running or paused sandbox. */
#include <stdio.h>

#include "internal.h"

static int list_json(const char *const *items, const char *what, json_t **out, thaw_error **err)
{
	json_t *a = json_array();
	for (size_t i = 0; items && items[i]; i++) {
		json_t *v = NULL;
		if (tl_json_from_str(items[i], what, &v, err) < 0) {
			json_decref(a);
			return -1;
		}
		json_array_append_new(a, v);
	}
	*out = a;
	return 0;
}

int tl_network_json(const thaw_network_policy *p, json_t **out, thaw_error **err)
{
	static const thaw_network_policy none = { 0 };
	if (!p)
		p = &none;
	json_t *allow = NULL, *deny = NULL;
	if (list_json(p->allow, "an allow entry", &allow, err) < 0)
		return -1;
	if (list_json(p->deny, "a deny entry", &deny, err) < 0) {
		json_decref(allow);
		return -1;
	}
	*out = json_pack("{s:b,s:o,s:o}", "internet", !p->no_internet, "allow", allow, "deny",
			 deny);
	return 0;
}

THAW_API int thaw_sandbox_set_network(thaw_client *client, const char *id,
				      const thaw_network_policy *p, thaw_sandbox **out,
				      thaw_error **err)
{
	json_t *net = NULL;
	if (tl_check_id(id, "sandbox id", err) < 0 || tl_network_json(p, &net, err) < 0)
		return -1;
	char path[192];
	snprintf(path, sizeof(path), "/v1/sandboxes/%s", id);
	json_t *body = json_pack("{s:o}", "network", net);
	struct tl_request req = { .method = "PATCH", .path = path, .body = body, .expect = 200 };
	int rc = tl_sandbox_call(client, &req, out, err);
	json_decref(body);
	return rc;
}
