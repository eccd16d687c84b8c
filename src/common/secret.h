/* Secrets kept in files (the fleet secret that hosts and the control
 * plane share): the file's first line, at least SECRET_MIN characters,
 * never logged; the caller wipes it (OPENSSL_cleanse) before freeing. */
#ifndef THAW_SECRET_H
#define THAW_SECRET_H

#include "err.h"

#define SECRET_MIN 16

/* *out: a new string. what names the secret in errors ("fleet secret"). */
int secret_read(const char *path, const char *what, char **out, struct thaw_err **err);

#endif
