/* Loaded into PostgreSQL (LD_PRELOAD, set by start-postgres): OpenSSL's
 * RAND_bytes and RAND_priv_bytes answered from the guest kernel
 * (getrandom).
 *
 * Why: PostgreSQL's postmaster draws every backend's cancel key with
 * RAND_bytes, and OpenSSL keeps its generator's state in the postmaster's
 * memory, which is in the template's snapshot: every clone would hand out
 * the same keys in the same order (measured: two clones' first three
 * connections had identical BackendKeyData), and a cancel request needs
 * no password, so one tenant could cancel another tenant's queries. The
 * guest kernel's generator is reseeded in every clone before anything
 * runs (the agent adds host entropy and forces a CRNG reseed), so drawing
 * from it makes every key, nonce and UUID the clone's own. Built by
 * templates/build-rootfs.sh with the host's compiler: libc's syscall()
 * only, so it loads on any glibc. */
#include <errno.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ossl_lib_ctx_st;

static int fill(unsigned char *buf, size_t n)
{
	while (n) {
		long got = syscall(SYS_getrandom, buf, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		buf += got;
		n -= (size_t)got;
	}
	return 1;
}

int RAND_bytes(unsigned char *buf, int num)
{
	return num >= 0 && fill(buf, (size_t)num);
}

int RAND_priv_bytes(unsigned char *buf, int num)
{
	return num >= 0 && fill(buf, (size_t)num);
}

int RAND_bytes_ex(struct ossl_lib_ctx_st *ctx, unsigned char *buf, size_t num,
		  unsigned int strength)
{
	(void)ctx;
	(void)strength;
	return fill(buf, num);
}

int RAND_priv_bytes_ex(struct ossl_lib_ctx_st *ctx, unsigned char *buf, size_t num,
		       unsigned int strength)
{
	(void)ctx;
	(void)strength;
	return fill(buf, num);
}
