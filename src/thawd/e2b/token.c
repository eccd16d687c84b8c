#include "e2b/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"

#define LABEL "thaw e2b envd access token v1\n"

void e2b_token_derive(const char *key, const char *id, char out[E2B_TOKEN_HEX + 1])
{
	struct buf msg = { 0 };
	buf_printf(&msg, LABEL "%s", id);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	HMAC(EVP_sha256(), key, (int)strlen(key), msg.data, msg.len, mac, &len);
	buf_free(&msg);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
	OPENSSL_cleanse(mac, sizeof(mac));
}

bool e2b_token_check(const char *key, const char *id, const char *presented)
{
	if (strlen(presented) != E2B_TOKEN_HEX ||
	    strspn(presented, "0123456789abcdef") != E2B_TOKEN_HEX)
		return false;
	char want[E2B_TOKEN_HEX + 1];
	e2b_token_derive(key, id, want);
	bool ok = CRYPTO_memcmp(want, presented, E2B_TOKEN_HEX) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}
