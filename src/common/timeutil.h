#ifndef THAW_TIMEUTIL_H
#define THAW_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

static inline uint64_t time_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t time_real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline double ns_to_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* The time ms milliseconds from now on clock clk, for the timed waits
 * (pthread_cond_timedwait on a condition variable of that clock). */
static inline struct timespec time_after_ms(clockid_t clk, unsigned ms)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Formats a unix time (seconds) as RFC 3339 UTC into out[32]. */
static inline void time_format_rfc3339(int64_t secs, char out[32])
{
	time_t t = (time_t)secs;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* RFC 3339 ("2026-12-07T04:00:00Z", fractions and "+02:00" offsets
 * accepted) to unix seconds: 0, or -1 when s is not one. */
int time_parse_rfc3339(const char *s, int64_t *out);
/* What the API accepts for a time: unix seconds (digits) or RFC 3339. */
int time_parse_api(const char *s, int64_t *out);

#endif
