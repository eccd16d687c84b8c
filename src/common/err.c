#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const code_names[] = {
	[ERR_INTERNAL] = "internal",	     [ERR_INVALID] = "invalid_request",
	[ERR_NOT_FOUND] = "not_found",	     [ERR_CONFLICT] = "conflict",
	[ERR_UNAUTHORIZED] = "unauthorized", [ERR_TOO_LARGE] = "too_large",
	[ERR_CORRUPT] = "corrupt",	     [ERR_TIMEOUT] = "timeout",
	[ERR_UNAVAILABLE] = "unavailable",   [ERR_GUEST] = "guest_error",
	[ERR_LIMIT] = "limit_reached",	     [ERR_FORBIDDEN] = "forbidden",
};

const char *err_code_name(enum err_code code)
{
	if ((unsigned)code < sizeof(code_names) / sizeof(code_names[0]) && code_names[code])
		return code_names[code];
	return "internal";
}

const char *err_msg(const struct thaw_err *e)
{
	return e ? e->msg : "(no error)";
}

static struct thaw_err *err_new(struct thaw_err **err, enum err_code code)
{
	if (!err || *err)
		return NULL;
	struct thaw_err *e = calloc(1, sizeof(*e));
	if (!e)
		abort();
	e->code = code;
	*err = e;
	return e;
}

int err_set(struct thaw_err **err, enum err_code code, const char *fmt, ...)
{
	struct thaw_err *e = err_new(err, code);
	if (!e)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static enum err_code code_from_errno(int e)
{
	switch (e) {
	case ENOENT:
		return ERR_NOT_FOUND;
	case ENOSPC:
	case EDQUOT:
	case ENOMEM:
	case EAGAIN:
		return ERR_UNAVAILABLE;
	case ETIMEDOUT:
		return ERR_TIMEOUT;
	default:
		return ERR_INTERNAL;
	}
}

int err_sys(struct thaw_err **err, const char *fmt, ...)
{
	int saved = errno;
	struct thaw_err *e = err_new(err, code_from_errno(saved));
	if (!e) {
		errno = saved;
		return -1;
	}
	e->sys_errno = saved;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - (size_t)n, ": %s", strerror(saved));
	errno = saved;
	return -1;
}

int err_wrap(struct thaw_err **err, const char *fmt, ...)
{
	if (!err || !*err)
		return -1;
	struct thaw_err *e = *err;
	char prefix[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	char joined[sizeof(prefix) + sizeof(e->msg) + 2];
	snprintf(joined, sizeof(joined), "%s: %s", prefix, e->msg);
	/* Truncation is expected and fine: the message stays a C string. */
	size_t n = strnlen(joined, sizeof(e->msg) - 1);
	memcpy(e->msg, joined, n);
	e->msg[n] = '\0';
	return -1;
}

void err_free(struct thaw_err *e)
{
	free(e);
}
