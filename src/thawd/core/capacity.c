#include "core/capacity.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "timeutil.h"

/* How long an admitted operation's cost is held aside: by then its VMM
 * has started and the kernel's MemAvailable shows what it took. */
#define SETTLE_NS (5ull * 1000000000ull)
#define MAX_PENDING 256

struct pending {
	uint64_t at_ns, bytes;
};

struct capacity {
	pthread_mutex_t lock; /* guards everything below */
	struct capacity_conf conf;
	uint64_t total;
	double mean;	  /* measured cost, bytes */
	unsigned weighed; /* VMMs measured */
	struct pending pending[MAX_PENDING];
	size_t npending;
	uint64_t refused;
};

static uint64_t meminfo(const char *key)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	size_t klen = strlen(key);
	unsigned long long kb = 0;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			sscanf(line + klen + 1, "%llu", &kb);
			break;
		}
	return kb * 1024ull;
}

uint64_t mem_available_bytes(void)
{
	return meminfo("MemAvailable");
}

uint64_t mem_total_bytes(void)
{
	return meminfo("MemTotal");
}

static uint64_t rollup_kb(const char *path, const char *const keys[], size_t nkeys)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char line[256];
	uint64_t sum = 0;
	while (f && fgets(line, sizeof(line), f))
		for (size_t i = 0; i < nkeys; i++) {
			size_t k = strlen(keys[i]);
			unsigned long long kb;
			if (strncmp(line, keys[i], k) == 0 && sscanf(line + k, " %llu", &kb) == 1)
				sum += kb;
		}
	return sum;
}

uint64_t process_private_bytes(pid_t pid)
{
	/* Anonymous, not Private_*: a page of the template's memory that only
	 * this VMM maps yet counts as private, and the first VMM of a
	 * template would weigh the whole shared working set. Its own are
	 * the anonymous ones: QEMU's heap, TCG's code, the guest's writes. */
	static const char *const rollup[] = { "Anonymous:", "Swap:" };
	static const char *const status[] = { "VmPTE:" };
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	uint64_t kb = rollup_kb(path, rollup, 2);
	if (kb == 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	return (kb + rollup_kb(path, status, 1)) * 1024ull;
}

struct capacity *capacity_new(const struct capacity_conf *conf)
{
	struct capacity *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->conf = *conf;
	c->total = mem_total_bytes();
	return c;
}

void capacity_free(struct capacity *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* c->lock held. */
static uint64_t per_sandbox(const struct capacity *c)
{
	if (c->conf.per_sandbox_bytes)
		return c->conf.per_sandbox_bytes;
	return c->weighed ? (uint64_t)c->mean : c->conf.estimate_bytes;
}

/* c->lock held: drops settled entries, returns what is still pending. */
static uint64_t pending_bytes(struct capacity *c, uint64_t now)
{
	uint64_t sum = 0;
	size_t keep = 0;
	for (size_t i = 0; i < c->npending; i++)
		if (now - c->pending[i].at_ns < SETTLE_NS) {
			c->pending[keep++] = c->pending[i];
			sum += c->pending[i].bytes;
		}
	c->npending = keep;
	return sum;
}

int capacity_admit(struct capacity *c, unsigned count, struct thaw_err **err)
{
	if (count == 0)
		return 0;
	uint64_t avail = mem_available_bytes();
	if (avail == 0)
		return 0; /* no /proc/meminfo: nothing to go by */
	pthread_mutex_lock(&c->lock);
	uint64_t now = time_mono_ns();
	uint64_t pending = pending_bytes(c, now);
	uint64_t need = per_sandbox(c) * count;
	uint64_t free_after = avail > pending ? avail - pending : 0;
	int rc = 0;
	if (free_after < c->conf.reserve_bytes + need) {
		c->refused++;
		rc = err_set(err, ERR_UNAVAILABLE,
			     "not enough memory on this host: %llu MiB available (%llu MiB of it "
			     "promised to operations starting now), %llu MiB kept free "
			     "(--memory-reserve), and room for %u more sandbox%s takes about %llu "
			     "MiB; try again later or delete sandboxes",
			     (unsigned long long)(avail >> 20), (unsigned long long)(pending >> 20),
			     (unsigned long long)(c->conf.reserve_bytes >> 20), count,
			     count == 1 ? "" : "es", (unsigned long long)(need >> 20));
	} else if (c->npending < MAX_PENDING) {
		c->pending[c->npending++] = (struct pending){ .at_ns = now, .bytes = need };
	} else {
		/* Full: fold into the newest entry, which settles last. */
		c->pending[c->npending - 1].bytes += need;
		c->pending[c->npending - 1].at_ns = now;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void capacity_observe(struct capacity *c, pid_t vmm_pid)
{
	uint64_t bytes = process_private_bytes(vmm_pid);
	if (bytes == 0)
		return;
	pthread_mutex_lock(&c->lock);
	c->weighed++;
	c->mean += ((double)bytes - c->mean) / c->weighed;
	pthread_mutex_unlock(&c->lock);
}

/* c->lock held. */
static unsigned max_sandboxes(const struct capacity *c)
{
	uint64_t usable = c->total > c->conf.reserve_bytes ? c->total - c->conf.reserve_bytes : 0;
	uint64_t per = per_sandbox(c);
	uint64_t n = per ? usable / per : 1;
	if (c->conf.other_bound && n > c->conf.other_bound)
		n = c->conf.other_bound;
	return n ? (unsigned)n : 1;
}

unsigned capacity_max_sandboxes(struct capacity *c)
{
	pthread_mutex_lock(&c->lock);
	unsigned n = max_sandboxes(c);
	pthread_mutex_unlock(&c->lock);
	return n;
}

void capacity_stats(struct capacity *c, struct capacity_stats *out)
{
	uint64_t avail = mem_available_bytes();
	pthread_mutex_lock(&c->lock);
	*out = (struct capacity_stats){
		.total_bytes = c->total,
		.available_bytes = avail,
		.reserve_bytes = c->conf.reserve_bytes,
		.per_sandbox_bytes = per_sandbox(c),
		.per_sandbox_source = c->conf.per_sandbox_bytes ? "option"
				      : c->weighed		? "measured"
								: "estimate",
		.measured_vmms = c->weighed,
		.pending_bytes = pending_bytes(c, time_mono_ns()),
		.refused = c->refused,
		.max_sandboxes = max_sandboxes(c),
	};
	pthread_mutex_unlock(&c->lock);
}
