#include "secret.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"

int secret_read(const char *path, const char *what, char **out, struct thaw_err **err)
{
	char *text = NULL;
	if (fs_read_file(path, 4096, &text, NULL, err) < 0)
		return err_wrap(err, "the %s", what);
	text[strcspn(text, "\r\n")] = '\0';
	size_t n = strlen(text);
	if (n < SECRET_MIN) {
		OPENSSL_cleanse(text, n);
		free(text);
		return err_set(err, ERR_INVALID, "%s holds no usable %s (%d+ characters)", path, what,
			       SECRET_MIN);
	}
	*out = text;
	return 0;
}
