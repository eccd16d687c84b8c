#include "pagetoken.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void page_token_make(int64_t when, const char *id, char out[PAGE_TOKEN_MAX])
{
	char plain[PAGE_TOKEN_MAX / 2 + 1];
	int n = snprintf(plain, sizeof(plain), "%lld.%s", (long long)when, id);
	out[0] = '\0';
	for (size_t i = 0; i < (size_t)n && 2 * i + 2 < PAGE_TOKEN_MAX; i++)
		snprintf(out + 2 * i, 3, "%02x", (unsigned char)plain[i]);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int page_token_parse(const char *token, int64_t *when, char id[SANDBOX_ID_LEN + 1],
		     struct thaw_err **err)
{
	size_t n = strlen(token);
	char plain[PAGE_TOKEN_MAX / 2 + 1];
	if (n == 0 || n % 2 || n >= PAGE_TOKEN_MAX)
		return err_set(err, ERR_INVALID, "next is not a token from this API");
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(token[2 * i]), lo = hexval(token[2 * i + 1]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return err_set(err, ERR_INVALID, "next is not a token from this API");
		plain[i] = (char)(hi << 4 | lo);
	}
	plain[n / 2] = '\0';
	char *dot = strchr(plain, '.'), *end;
	if (!dot || dot == plain)
		return err_set(err, ERR_INVALID, "next is not a token from this API");
	*dot = '\0';
	/* Digits only (strtoll would skip leading white space and take a
	 * sign), no leading zero, in range: one spelling per place. */
	bool digits = true;
	for (const char *p = plain; *p; p++)
		digits = digits && *p >= '0' && *p <= '9';
	errno = 0;
	long long c = strtoll(plain, &end, 10);
	if (!digits || *end || errno == ERANGE || (plain[0] == '0' && plain[1]) ||
	    !id_valid_sandbox(dot + 1))
		return err_set(err, ERR_INVALID, "next is not a token from this API");
	*when = c;
	snprintf(id, SANDBOX_ID_LEN + 1, "%s", dot + 1);
	return 0;
}
