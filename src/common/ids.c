#include "ids.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";

void random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			abort();
		}
		p += got;
		n -= (size_t)got;
	}
}

static void random_word(char *out, size_t n)
{
	unsigned char raw[64];
	random_bytes(raw, n);
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[raw[i] & 31];
	out[n] = '\0';
}

void id_new_sandbox(char *out)
{
	memcpy(out, SANDBOX_ID_PREFIX, sizeof(SANDBOX_ID_PREFIX) - 1);
	random_word(out + sizeof(SANDBOX_ID_PREFIX) - 1, SANDBOX_ID_RANDOM);
}

void id_new_build(char *out, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char word[8];
	random_word(word, 4);
	snprintf(out, size, "%04d%02d%02dT%02d%02d%02d-%s", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, word);
}

static bool in_alphabet(char c)
{
	return c && strchr(alphabet, c);
}

bool id_valid_sandbox(const char *s)
{
	size_t plen = sizeof(SANDBOX_ID_PREFIX) - 1;
	if (!s || strlen(s) != SANDBOX_ID_LEN || strncmp(s, SANDBOX_ID_PREFIX, plen) != 0)
		return false;
	for (const char *p = s + plen; *p; p++)
		if (!in_alphabet(*p))
			return false;
	return true;
}

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool id_valid_template(const char *s)
{
	if (!s || !lower_alnum(s[0]))
		return false;
	size_t n = 0;
	for (; s[n]; n++)
		if (!lower_alnum(s[n]) && s[n] != '-')
			return false;
	return n <= TEMPLATE_NAME_MAX;
}

bool id_valid_build(const char *s)
{
	if (!s || !*s || strlen(s) > 40)
		return false;
	for (const char *p = s; *p; p++)
		if (!lower_alnum(*p) && *p != '-' && *p != 'T')
			return false;
	return true;
}

bool id_valid_key_name(const char *s)
{
	if (!s || !lower_alnum(s[0]))
		return false;
	size_t n = 0;
	for (; s[n]; n++)
		if (!lower_alnum(s[n]) && s[n] != '-' && s[n] != '_')
			return false;
	return n <= KEY_NAME_MAX;
}

bool id_valid_idem_key(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n >= 1 && n <= IDEM_KEY_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") == n;
}
