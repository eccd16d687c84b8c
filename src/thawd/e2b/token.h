/* A sandbox's envd access token as a pure function of a host key and
 * the sandbox id (auth.c supplies the key): HMAC-SHA256 under a label of
 * its own, so that the same key's other MACs (signed file URLs) can never
 * be presented as a token, nor a token as one of them. */
#ifndef THAW_E2B_TOKEN_H
#define THAW_E2B_TOKEN_H

#include <stdbool.h>

#define E2B_TOKEN_HEX 64

void e2b_token_derive(const char *key, const char *id, char out[E2B_TOKEN_HEX + 1]);
/* Whether presented is id's token (constant time; any other form is no). */
bool e2b_token_check(const char *key, const char *id, const char *presented);

#endif
