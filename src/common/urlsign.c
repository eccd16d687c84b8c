#include "urlsign.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"
#include "secret.h"

/* The label keeps these MACs apart from any other use of a key. */
#define LABEL "thaw signed url v1\n"
#define KEY_BYTES 32

/* A fresh key in a temp file beside path, then link(2): link never
 * replaces, so the first writer's key is the one everybody reads. */
static int key_create(const char *path, struct thaw_err **err)
{
	unsigned char raw[KEY_BYTES];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return err_sys(err, "getrandom");
	char hex[2 * KEY_BYTES + 2];
	for (int i = 0; i < KEY_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	hex[2 * KEY_BYTES] = '\n';
	OPENSSL_cleanse(raw, sizeof(raw));
	_cleanup_free_ char *tmp = xasprintf("%s.XXXXXX", path);
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "creating %s", tmp);
	int rc = fs_pwrite_all(fd, hex, 2 * KEY_BYTES + 1, 0, err);
	OPENSSL_cleanse(hex, sizeof(hex));
	if (rc == 0 && fsync(fd) < 0)
		rc = err_sys(err, "fsync %s", tmp);
	if (rc == 0 && link(tmp, path) < 0 && errno != EEXIST)
		rc = err_sys(err, "linking %s", path);
	unlink(tmp);
	return rc;
}

int urlsign_key_load(const char *path, char **out, struct thaw_err **err)
{
	if (access(path, F_OK) < 0 && errno == ENOENT && key_create(path, err) < 0)
		return err_wrap(err, "making the URL signing key");
	return secret_read(path, "URL signing key", out, err);
}

void urlsign_mac(const char *key, const char *sandbox, const char *op, int64_t expires,
		 const char *path, char out[URLSIGN_MAC_LEN + 1])
{
	struct buf msg = { 0 };
	buf_printf(&msg, LABEL "%s\n%s\n%lld\n%s", sandbox, op, (long long)expires, path);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	HMAC(EVP_sha256(), key, (int)strlen(key), msg.data, msg.len, mac, &len);
	buf_free(&msg);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
	OPENSSL_cleanse(mac, sizeof(mac));
}

bool urlsign_check(const char *key, const char *sandbox, const char *op, int64_t expires,
		   const char *path, const char *presented)
{
	if (strlen(presented) != URLSIGN_MAC_LEN ||
	    strspn(presented, "0123456789abcdef") != URLSIGN_MAC_LEN)
		return false;
	char want[URLSIGN_MAC_LEN + 1];
	urlsign_mac(key, sandbox, op, expires, path, want);
	bool ok = CRYPTO_memcmp(want, presented, URLSIGN_MAC_LEN) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}
