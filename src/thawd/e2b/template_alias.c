/* E2B's default template names and the thaw templates behind them. The
 * SDK creates "base" when no template is named (and the code
 * interpreter's SDK "code-interpreter-v1"); any other name is taken as a
 * thaw template's own. */
#include <stdio.h>
#include <string.h>

#include "api/validate.h"
#include "e2b/control.h"
#include "ids.h"

static const struct {
	const char *e2b;
	const char *thaw;
} aliases[] = {
	{ "base", DEFAULT_TEMPLATE },
	{ "code-interpreter-v1", "code-interpreter" },
};

int e2b_template_resolve(const char *name, char out[64], struct thaw_err **err)
{
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcmp(name, aliases[i].e2b) == 0) {
			snprintf(out, 64, "%s", aliases[i].thaw);
			return 0;
		}
	if (!id_valid_template(name))
		return err_set(err, ERR_INVALID,
			       "templateID \"%.64s\" is no thaw template name (1-63 characters of "
			       "[a-z0-9-]; or base, code-interpreter-v1)",
			       name);
	snprintf(out, 64, "%s", name);
	return 0;
}
