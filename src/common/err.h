/* The one error contract of thaw.
 *
 * A function that can fail takes `struct thaw_err **err` as its last
 * argument, returns 0 on success and -1 on failure, and on failure has
 * filled *err (when err is not NULL). Callers add context on the way up
 * with err_wrap(). The error code is the only thing that decides an HTTP
 * status, in exactly one place (api/respond.c). */
#ifndef THAW_ERR_H
#define THAW_ERR_H

#include <stdarg.h>

enum err_code {
	ERR_INTERNAL = 0, /* a bug or an unexpected host failure */
	ERR_INVALID,	  /* the caller's input is wrong */
	ERR_NOT_FOUND,	  /* the named thing does not exist */
	ERR_CONFLICT,	  /* the thing exists but its state forbids the operation */
	ERR_UNAUTHORIZED, /* missing or wrong API key */
	ERR_TOO_LARGE,	  /* a body or value exceeds a limit */
	ERR_CORRUPT,	  /* stored artifacts failed validation */
	ERR_TIMEOUT,	  /* a deadline passed */
	ERR_UNAVAILABLE,  /* a dependency (VMM, guest, disk) is not usable now */
	ERR_GUEST,	  /* the guest misbehaved or broke the protocol */
	ERR_LIMIT,	  /* a limit: too many requests or sandboxes; try later */
	ERR_FORBIDDEN,	  /* a valid key whose role may not do this */
};

struct thaw_err {
	enum err_code code;
	int sys_errno; /* errno at the origin, 0 when not a system error */
	char msg[1024];
};

/* Records a new error unless one is already set (the first cause wins,
 * later calls only add context through err_wrap). Always returns -1. */
int err_set(struct thaw_err **err, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like err_set with ERR_INTERNAL (or a code derived from errno) and
 * ": strerror(errno)" appended. Always returns -1. */
int err_sys(struct thaw_err **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the existing message with "context: ". Always returns -1. */
int err_wrap(struct thaw_err **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void err_free(struct thaw_err *e);
const char *err_code_name(enum err_code code);
const char *err_msg(const struct thaw_err *e);

static inline void cleanup_errp(struct thaw_err **e)
{
	err_free(*e);
}
#define _cleanup_err_ __attribute__((cleanup(cleanup_errp)))

#endif
