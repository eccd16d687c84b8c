/* Small helpers shared by the unit tests (header only: the Makefile builds
 * one binary per tests/unit/test_*.c). Include after <cmocka.h>. */
#ifndef THAW_TESTUTIL_H
#define THAW_TESTUTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A deterministic PRNG (xorshift64): the same seed gives the same bytes,
 * so a failure found by a randomised test reproduces exactly. */
struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t x = r->s ? r->s : 0x9E3779B97F4A7C15ull;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->s = x;
	return x;
}

static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
	return n ? (uint32_t)(rng_next(r) % n) : 0;
}

static inline void rng_fill(struct rng *r, void *buf, size_t n)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng_next(r);
}

#endif
