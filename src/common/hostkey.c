#include "hostkey.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

/* The label keeps these MACs apart from any other use of the secret. */
#define LABEL "thaw host key v1:"

void host_key_derive(const char *fleet_secret, const char *host_name,
		     char out[HOST_KEY_LEN + 1])
{
	unsigned char msg[sizeof(LABEL) + 64];
	size_t n = strlen(host_name);
	if (n > 63)
		n = 63;
	memcpy(msg, LABEL, sizeof(LABEL) - 1);
	memcpy(msg + sizeof(LABEL) - 1, host_name, n);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	HMAC(EVP_sha256(), fleet_secret, (int)strlen(fleet_secret), msg, sizeof(LABEL) - 1 + n,
	     mac, &len);
	memcpy(out, HOST_KEY_PREFIX, 5);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 5 + 2 * i, 3, "%02x", mac[i]);
	OPENSSL_cleanse(mac, sizeof(mac));
}

bool host_key_form(const char *s)
{
	return strlen(s) == HOST_KEY_LEN && strncmp(s, HOST_KEY_PREFIX, 5) == 0 &&
	       strspn(s + 5, "0123456789abcdef") == 64;
}

bool host_key_check(const char *fleet_secret, const char *host_name, const char *presented)
{
	if (!host_key_form(presented))
		return false;
	char want[HOST_KEY_LEN + 1];
	host_key_derive(fleet_secret, host_name, want);
	bool ok = CRYPTO_memcmp(want, presented, HOST_KEY_LEN) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}
