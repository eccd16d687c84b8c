/* A host's own credential in a fleet: HMAC-SHA256 of its name under the
 * fleet secret. The control plane, which holds the secret, knows every
 * host's key without storing any (PostgreSQL holds none); a host given
 * only its key (thaw-control --print-host-key NAME) can pose as no other
 * host and open no other host's API. A host whose file holds the fleet
 * secret itself derives its key at start (simple setups, tests). */
#ifndef THAW_HOSTKEY_H
#define THAW_HOSTKEY_H

#include <stdbool.h>

#define HOST_KEY_PREFIX "thk1-"
#define HOST_KEY_LEN (5 + 64)

void host_key_derive(const char *fleet_secret, const char *host_name,
		     char out[HOST_KEY_LEN + 1]);
/* Whether s has a host key's form (prefix, length, lowercase hex). */
bool host_key_form(const char *s);
/* Whether presented is host_name's key, in constant time. */
bool host_key_check(const char *fleet_secret, const char *host_name, const char *presented);

#endif
