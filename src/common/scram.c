#include "scram.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <string.h>

#include "utf8.h"

static int hmac(const unsigned char *key, size_t key_len, const char *msg, unsigned char *out)
{
	unsigned int n = SHA256_DIGEST_LENGTH;
	return HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out,
		    &n)
		       ? 0
		       : -1;
}

int scram_verifier(const char *password, const unsigned char *salt, size_t salt_len,
		   struct buf *out, struct thaw_err **err)
{
	unsigned char salted[SHA256_DIGEST_LENGTH], client[SHA256_DIGEST_LENGTH];
	unsigned char stored[SHA256_DIGEST_LENGTH], server[SHA256_DIGEST_LENGTH];
	for (const char *p = password; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return err_set(err, ERR_INVALID,
				       "a SCRAM password here is printable ASCII");
	int rc = PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len,
				   SCRAM_ITERATIONS, EVP_sha256(), sizeof(salted), salted)
			 ? 0
			 : -1;
	if (rc == 0)
		rc = hmac(salted, sizeof(salted), "Client Key", client);
	if (rc == 0 && !SHA256(client, sizeof(client), stored))
		rc = -1;
	if (rc == 0)
		rc = hmac(salted, sizeof(salted), "Server Key", server);
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client, sizeof(client));
	if (rc < 0)
		return err_set(err, ERR_INTERNAL, "computing a SCRAM-SHA-256 verifier failed");
	buf_printf(out, "SCRAM-SHA-256$%d:", SCRAM_ITERATIONS);
	base64_encode(salt, salt_len, out);
	buf_append(out, "$", 1);
	base64_encode(stored, sizeof(stored), out);
	buf_append(out, ":", 1);
	base64_encode(server, sizeof(server), out);
	return 0;
}
