#include "reqid.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ids.h"
#include "log.h"

_Static_assert(REQID_SIZE == LOG_REQID_SIZE, "log lines hold any request id whole");

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static uint64_t process_key;
static _Atomic uint64_t counter;

static void key_init(void)
{
	random_bytes(&process_key, sizeof(process_key));
}

/* splitmix64's finaliser: a bijection on 64 bits, so distinct inputs
 * give distinct ids; the random key keeps them from being guessed. */
static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

bool reqid_valid(const char *s)
{
	if (!s)
		return false;
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-");
	return n >= 1 && n <= REQID_MAX && s[n] == '\0';
}

void reqid_new(char out[REQID_SIZE])
{
	pthread_once(&key_once, key_init);
	/* The odd multiplier spreads the counter over all 64 bits; adding
	 * the key and mixing stay bijective. */
	uint64_t n = counter++ * 0x9e3779b97f4a7c15ull + process_key;
	snprintf(out, REQID_SIZE, "req_%016llx", (unsigned long long)mix(n));
}

void reqid_take(const char *client, char out[REQID_SIZE])
{
	if (reqid_valid(client)) {
		snprintf(out, REQID_SIZE, "%s", client);
		return;
	}
	reqid_new(out);
}
