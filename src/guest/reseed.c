/* What makes a restored clone its own machine: the host's wall-clock
 * time, fresh randomness forced into the kernel CRNG, and its hostname.
 * Every clone of one snapshot starts with identical RNG state; writing
 * to the input pool alone would not change what /dev/urandom returns
 * until the next scheduled reseed, so we also ask for an immediate one. */
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

static int add_entropy(const uint8_t *bytes, uint32_t n)
{
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct {
		struct rand_pool_info info;
		uint32_t words[PROTO_ENTROPY_MAX / 4];
	} req;
	req.info.entropy_count = (int)(n * 8);
	req.info.buf_size = (int)n;
	memcpy(req.info.buf, bytes, n);
	int rc = ioctl(fd, RNDADDENTROPY, &req.info);
	if (rc == 0)
		rc = ioctl(fd, RNDRESEEDCRNG);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

static int set_clock(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };
	return clock_settime(CLOCK_REALTIME, &ts);
}

static int hostname_ok(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return 1;
}

int reseed_apply(const struct proto_frame *hello, bool system, struct buf *reply)
{
	uint64_t time_ns = 0;
	const uint8_t *entropy = NULL;
	uint32_t entropy_len = 0;
	char *hostname = NULL;
	struct proto_tlv_iter it;
	struct proto_tlv t;
	int r;
	proto_tlv_init(&it, hello);
	while ((r = proto_tlv_next(&it, &t)) > 0) {
		if (t.tag == T_TIME_NS && proto_tlv_u64(&t, &time_ns) < 0)
			r = -1;
		else if (t.tag == T_ENTROPY) {
			entropy = t.val;
			entropy_len = t.len;
		} else if (t.tag == T_HOSTNAME && !hostname && proto_tlv_str(&t, &hostname) < 0)
			r = -1;
		if (r < 0)
			break;
	}
	const char *problem = NULL;
	if (r < 0)
		problem = "malformed HELLO";
	else if (time_ns == 0)
		problem = "HELLO without time";
	else if (entropy_len < PROTO_ENTROPY_MIN || entropy_len > PROTO_ENTROPY_MAX ||
		 entropy_len % 4)
		problem = "HELLO entropy must be 16..512 bytes, a multiple of 4";
	else if (hostname && !hostname_ok(hostname))
		problem = "HELLO hostname is not [a-z0-9-]{1,63}";
	if (!problem && system) {
		if (set_clock(time_ns) < 0)
			problem = "setting the clock failed";
		else if (add_entropy(entropy, entropy_len) < 0)
			problem = "reseeding the RNG failed";
		else if (hostname && sethostname(hostname, strlen(hostname)) < 0)
			problem = "setting the hostname failed";
	}
	free(hostname);
	size_t start;
	if (problem) {
		start = proto_begin(reply, MSG_ERROR, 0);
		proto_put_str(reply, T_MESSAGE, problem);
	} else {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		start = proto_begin(reply, MSG_HELLO_OK, 0);
		proto_put_str(reply, T_VERSION, PROTO_VERSION);
		proto_put_u64(reply, T_CLOCK_NS,
			      (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec);
	}
	proto_end(reply, start);
	return problem ? -1 : 0;
}
