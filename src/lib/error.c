/* thaw_error: the one error type of libthaw. The message is formatted
 * once, when the error is made; accessors never fail. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

int tl_error_set(thaw_error **err, int http_status, const char *code, const char *fmt, ...)
{
	if (!err || *err)
		return -1;
	thaw_error *e = tl_xcalloc(1, sizeof(*e));
	e->http_status = http_status;
	e->code = tl_xstrdup(code);
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&e->message, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	*err = e;
	return -1;
}

void tl_error_request_id(thaw_error **err, const json_t *o)
{
	const char *id = json_string_value(json_object_get(o, "request_id"));
	if (err && *err && !(*err)->request_id && id)
		(*err)->request_id = tl_xstrdup(id);
}

THAW_API const char *thaw_error_request_id(const thaw_error *e)
{
	return e && e->request_id ? e->request_id : "";
}

THAW_API int thaw_error_http_status(const thaw_error *e)
{
	return e ? e->http_status : 0;
}

THAW_API const char *thaw_error_code(const thaw_error *e)
{
	return e ? e->code : "";
}

THAW_API const char *thaw_error_message(const thaw_error *e)
{
	return e ? e->message : "";
}

THAW_API void thaw_error_free(thaw_error *e)
{
	if (!e)
		return;
	free(e->code);
	free(e->message);
	free(e->request_id);
	free(e);
}
