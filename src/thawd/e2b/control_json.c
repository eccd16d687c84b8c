/* thaw's sandboxes in the shapes E2B's SDK reads. */
#include <string.h>

#include "core/sandbox.h"
#include "e2b/control.h"

json_t *e2b_sandbox_created_json(struct host *h, struct sandbox *sb)
{
	char token[E2B_TOKEN_LEN + 1];
	e2b_access_token(h, sb->id, token);
	/* domain null: the SDK then reaches envd through E2B_SANDBOX_URL
	 * (this listener), the only way thaw serves it. */
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:n}", "sandboxID", sb->id, "templateID",
			 sb->template_name, "alias", sb->template_name, "clientID", "thaw",
			 "envdVersion", E2B_ENVD_VERSION, "envdAccessToken", token, "domain");
}
