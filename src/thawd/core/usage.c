#include "core/usage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "core/host.h"
#include "core/registry.h"
#include "core/sandbox.h"
#include "log.h"
#include "net/linkstats.h"
#include "net/slot.h"
#include "template/catalog.h"
#include "timeutil.h"
#include "vmm/cgroup.h"

/* One sandbox id's ring and what the next sample needs from this one. */
struct usage_entry {
	char id[SANDBOX_ID_LEN + 1];
	uint32_t round; /* the last round that found it listed */
	/* The incarnation last sampled (its VMM): another one restarts the
	 * CPU delta and the network base. */
	pid_t pid;
	uint64_t cpu_usec, mono_us; /* at the last sample */
	uint64_t net_base_rx, net_base_tx; /* the slot's counters when it was first seen */
	uint64_t net_rx, net_tx;	   /* reported at the last sample */
	uint64_t net_acc_rx, net_acc_tx;   /* what earlier incarnations had reported */
	uint32_t cpu_count;		   /* the incarnation's (read_shape) */
	uint64_t guest_mem;
	uint64_t mem_limit; /* its cgroup's, read with the shape */
	struct usering ring;
};

struct usage_table {
	struct host *h;
	unsigned interval_s, window_s;
	pthread_mutex_t lock; /* guards items and every entry */
	struct usage_entry **items;
	size_t n, cap;
	pthread_mutex_t round_lock; /* one round at a time (the thread's, a bench's) */
	uint32_t round; /* changed under round_lock and lock; read under either */
	pthread_t thread;
	bool started;
	pthread_mutex_t wait_lock;
	pthread_cond_t wake; /* on CLOCK_MONOTONIC */
	bool stop;	     /* guarded by wait_lock */
};

/* What one sandbox's files said, read with no lock held. */
struct reading {
	pid_t pid;
	uint64_t start_ticks; /* its VMM's /proc start time */
	bool has_shape;	      /* read_shape ran: a new incarnation */
	uint32_t cpu_count;
	uint64_t guest_mem; /* its guest RAM: the total when no cgroup limits it */
	uint64_t cpu_usec, mem_used;
	/* The cgroup's memory limit: read with the shape only (a limit that
	 * changes later is the CPU's, never the memory's). */
	uint64_t mem_limit;
	uint64_t disk_used, disk_total;
	uint64_t veth_rx, veth_tx; /* as the host end counts: rx is what the guest sent */
	uint64_t mono_us;
	int64_t t;
};

/* ---- reading ---------------------------------------------------------- */

/* A small file of /proc or /sys into buf (NUL-terminated); -1 when unreadable. */
static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* The VMM process's CPU time (all its threads): where cgroups do not
 * give it (none, or v1). */
static void read_proc_cpu(struct reading *rd)
{
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)rd->pid);
	if (read_small(path, line, sizeof(line)) < 0)
		return;
	/* After the command, which may hold spaces: utime and stime are the
	 * 12th and 13th fields past ")". */
	const char *p = strrchr(line, ')');
	unsigned long long ut, st;
	if (p && sscanf(p + 1, " %*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &ut,
			&st) == 2)
		rd->cpu_usec = (ut + st) * 1000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
}

/* Without cgroups: the VMM process's resident set. */
static void read_proc_memory(struct reading *rd)
{
	char path[64], text[128];
	unsigned long long size, rss;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)rd->pid);
	if (read_small(path, text, sizeof(text)) == 0 && sscanf(text, "%llu %llu", &size, &rss) == 2)
		rd->mem_used = rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void read_u64(const char *path, uint64_t *out)
{
	char v[32];
	if (read_small(path, v, sizeof(v)) == 0)
		*out = strtoull(v, NULL, 10);
}

static void read_vmm(struct host *h, const char *id, struct reading *rd)
{
	struct cgroup_usage cu;
	char name[128];
	snprintf(name, sizeof(name), "%s%s", h->ns_prefix, id);
	if (h->vmm.cgroups && cgroup_vmm_usage(h->vmm.cgroups, name, rd->has_shape, &cu, NULL) == 0) {
		rd->mem_used = cu.memory_used;
		rd->mem_limit = cu.memory_limit;
		if (cu.cpu_usec != CGROUP_NO_CPU)
			rd->cpu_usec = cu.cpu_usec;
		else
			read_proc_cpu(rd);
		return;
	}
	read_proc_cpu(rd);
	read_proc_memory(rd);
}

/* The host end's counters: from this round's netlink dump, else sysfs. */
static void read_veth(const struct link_stats *links, size_t nlinks, const char *veth,
		      struct reading *rd)
{
	const struct link_stats *l = link_stats_find(links, nlinks, veth);
	if (l) {
		rd->veth_rx = l->rx_bytes;
		rd->veth_tx = l->tx_bytes;
		return;
	}
	char path[128];
	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/rx_bytes", veth);
	read_u64(path, &rd->veth_rx);
	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/tx_bytes", veth);
	read_u64(path, &rd->veth_tx);
}

static void read_files(struct host *h, const char *id, const char *dir, const char *veth,
		       const struct link_stats *links, size_t nlinks, struct reading *rd)
{
	read_vmm(h, id, rd);
	char path[PATH_MAX];
	struct stat st;
	/* Allocated blocks, not FIEMAP: a system call, however large the
	 * clone. Blocks shared with the template count too. */
	snprintf(path, sizeof(path), "%s/rootfs.img", dir);
	if (stat(path, &st) == 0) {
		rd->disk_used = (uint64_t)st.st_blocks * 512;
		rd->disk_total = (uint64_t)st.st_size;
	}
	read_veth(links, nlinks, veth, rd);
	rd->mono_us = time_mono_ns() / 1000;
	rd->t = (int64_t)(time_real_ns() / 1000000000ull);
}

/* Its vCPUs (its CPU limit rounded up, else its template's) and guest
 * RAM: looked up when a new incarnation is first seen. */
static void read_shape(struct host *h, struct sandbox *sb, struct reading *rd)
{
	struct template *t = NULL;
	rd->has_shape = true;
	rd->cpu_count = 1;
	if (h->catalog &&
	    catalog_get_build(h->catalog, sb->template_name, sb->build_id, &t, NULL) == 0) {
		rd->cpu_count = t->meta.vcpus ? t->meta.vcpus : 1;
		rd->guest_mem = (uint64_t)t->meta.memory_mb << 20;
		catalog_put(h->catalog, t);
	}
	if (sb->cpu_millis && (sb->cpu_millis + 999) / 1000 < rd->cpu_count)
		rd->cpu_count = (sb->cpu_millis + 999) / 1000;
}

/* ---- the table -------------------------------------------------------- */

/* Where id is, or would go, in items (kept sorted by id: a round looks up
 * every sandbox, so a linear search would make it quadratic). */
static size_t position(const struct usage_table *u, const char *id, bool *found)
{
	size_t lo = 0, hi = u->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(u->items[mid]->id, id);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static struct usage_entry *find(struct usage_table *u, const char *id)
{
	bool found;
	size_t i = position(u, id, &found);
	return found ? u->items[i] : NULL;
}

static struct usage_entry *find_or_add(struct usage_table *u, const char *id)
{
	bool found;
	size_t i = position(u, id, &found);
	if (found)
		return u->items[i];
	if (u->n == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 16;
		u->items = xrealloc(u->items, u->cap * sizeof(*u->items));
	}
	struct usage_entry *e = xcalloc(1, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	usering_init(&e->ring, u->window_s / u->interval_s);
	memmove(&u->items[i + 1], &u->items[i], (u->n - i) * sizeof(*u->items));
	u->items[i] = e;
	u->n++;
	return e;
}

static void entry_free(struct usage_entry *e)
{
	usering_free(&e->ring);
	free(e);
}

/* The VMM's age in µs, from its /proc start time (clock ticks since boot). */
static uint64_t vmm_age_us(uint64_t start_ticks)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
	uint64_t born = start_ticks * 1000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
	return now > born ? now - born : 0;
}

/* Turns a reading into the ring's next point (the table's lock held). A
 * new incarnation's first point averages its VMM's CPU over its life. */
static void record(struct usage_entry *e, const struct reading *rd)
{
	bool same = e->pid == rd->pid && e->mono_us && !rd->has_shape;
	uint64_t cpu = rd->cpu_usec, span = vmm_age_us(rd->start_ticks);
	if (same) {
		cpu = rd->cpu_usec >= e->cpu_usec ? rd->cpu_usec - e->cpu_usec : 0;
		span = rd->mono_us - e->mono_us;
	} else {
		e->net_acc_rx = e->net_rx;
		e->net_acc_tx = e->net_tx;
		e->net_base_rx = rd->veth_tx;
		e->net_base_tx = rd->veth_rx;
	}
	/* A slot's counters only grow; one that went back was rebuilt. */
	if (rd->veth_tx < e->net_base_rx || rd->veth_rx < e->net_base_tx) {
		e->net_acc_rx = e->net_rx;
		e->net_acc_tx = e->net_tx;
		e->net_base_rx = rd->veth_tx;
		e->net_base_tx = rd->veth_rx;
	}
	if (rd->has_shape) {
		e->cpu_count = rd->cpu_count;
		e->guest_mem = rd->guest_mem;
		e->mem_limit = rd->mem_limit;
	}
	e->pid = rd->pid;
	e->cpu_usec = rd->cpu_usec;
	e->mono_us = rd->mono_us;
	e->net_rx = e->net_acc_rx + (rd->veth_tx - e->net_base_rx);
	e->net_tx = e->net_acc_tx + (rd->veth_rx - e->net_base_tx);
	double pct = span ? (double)cpu * 100.0 / ((double)span * e->cpu_count) : 0;
	struct usage_point p = {
		.t = rd->t,
		.cpu_used_pct = pct,
		.cpu_count = e->cpu_count,
		.mem_used = rd->mem_used,
		.mem_total = e->mem_limit ? e->mem_limit : e->guest_mem,
		.disk_used = rd->disk_used,
		.disk_total = rd->disk_total,
		.net_rx = e->net_rx,
		.net_tx = e->net_tx,
	};
	usering_push(&e->ring, &p);
}

/* ---- one round -------------------------------------------------------- */

/* Marks sb's ring as listed; returns the pid of the incarnation it last
 * sampled (0: none). */
static pid_t mark(struct usage_table *u, const char *id)
{
	pthread_mutex_lock(&u->lock);
	struct usage_entry *e = find(u, id);
	pid_t pid = 0;
	if (e) {
		e->round = u->round;
		pid = e->pid;
	}
	pthread_mutex_unlock(&u->lock);
	return pid;
}

static bool sample_one(struct usage_table *u, struct sandbox *sb, const struct link_stats *links,
		       size_t nlinks)
{
	struct reading rd = { 0 };
	char veth[IF_NAMESIZE] = "";
	pthread_mutex_lock(&sb->lock);
	bool running = sb->state == SB_RUNNING && sb->vmm && sb->slot;
	if (running) {
		rd.pid = sb->vmm->pid;
		rd.start_ticks = sb->vmm->start_ticks;
		memcpy(veth, sb->slot->veth, sizeof(veth));
	}
	pthread_mutex_unlock(&sb->lock);
	pid_t known = mark(u, sb->id);
	if (!running)
		return false;
	if (known != rd.pid)
		read_shape(u->h, sb, &rd);
	/* The reference this round holds keeps sb->dir. */
	read_files(u->h, sb->id, sb->dir, veth, links, nlinks, &rd);
	pthread_mutex_lock(&u->lock);
	struct usage_entry *e = find_or_add(u, sb->id);
	e->round = u->round;
	record(e, &rd);
	pthread_mutex_unlock(&u->lock);
	return true;
}

/* Frees the rings of ids this round did not find listed (the order kept). */
static void sweep(struct usage_table *u)
{
	pthread_mutex_lock(&u->lock);
	size_t k = 0;
	for (size_t i = 0; i < u->n; i++) {
		if (u->items[i]->round == u->round)
			u->items[k++] = u->items[i];
		else
			entry_free(u->items[i]);
	}
	u->n = k;
	pthread_mutex_unlock(&u->lock);
}

size_t usage_sample_round(struct usage_table *u)
{
	size_t n, sampled = 0, nlinks = 0;
	struct link_stats *links = NULL;
	pthread_mutex_lock(&u->round_lock);
	/* Every slot's counters in one dump (this thread never leaves the
	 * root namespace, where the host ends are); sysfs if it fails. */
	link_stats_dump(u->h->if_prefix, &links, &nlinks, NULL);
	struct sandbox **list = registry_list(u->h, &n);
	pthread_mutex_lock(&u->lock);
	u->round++;
	pthread_mutex_unlock(&u->lock);
	for (size_t i = 0; i < n; i++)
		sampled += sample_one(u, list[i], links, nlinks);
	registry_list_free(u->h, list, n);
	free(links);
	sweep(u);
	pthread_mutex_unlock(&u->round_lock);
	return sampled;
}

/* ---- the thread and the queries -------------------------------------- */

static bool wait_next(struct usage_table *u, uint64_t *next_ns)
{
	*next_ns += (uint64_t)u->interval_s * 1000000000ull;
	uint64_t now = time_mono_ns();
	if (*next_ns < now) /* a round longer than the interval: no catching up */
		*next_ns = now;
	struct timespec ts = { .tv_sec = (time_t)(*next_ns / 1000000000ull),
			       .tv_nsec = (long)(*next_ns % 1000000000ull) };
	pthread_mutex_lock(&u->wait_lock);
	while (!u->stop && pthread_cond_timedwait(&u->wake, &u->wait_lock, &ts) != ETIMEDOUT)
		;
	bool go = !u->stop;
	pthread_mutex_unlock(&u->wait_lock);
	return go;
}

static void *sampler_main(void *arg)
{
	struct usage_table *u = arg;
	uint64_t next = time_mono_ns();
	do {
		uint64_t t0 = time_mono_ns();
		size_t n = usage_sample_round(u);
		log_debug("usage.round", "sandboxes=%zu us=%llu", n,
			  (unsigned long long)((time_mono_ns() - t0) / 1000));
	} while (wait_next(u, &next));
	return NULL;
}

int usage_start(struct host *h, unsigned interval_s, unsigned window_s, struct usage_table **out,
		struct thaw_err **err)
{
	struct usage_table *u = xcalloc(1, sizeof(*u));
	u->h = h;
	u->interval_s = interval_s ? interval_s : 1;
	u->window_s = window_s < u->interval_s ? u->interval_s : window_s;
	pthread_mutex_init(&u->lock, NULL);
	pthread_mutex_init(&u->round_lock, NULL);
	pthread_mutex_init(&u->wait_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&u->wake, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&u->thread, NULL, sampler_main, u);
	if (rc != 0) {
		errno = rc;
		usage_stop(u);
		return err_sys(err, "starting the usage sampler");
	}
	u->started = true;
	*out = u;
	return 0;
}

void usage_stop(struct usage_table *u)
{
	if (!u)
		return;
	if (u->started) {
		pthread_mutex_lock(&u->wait_lock);
		u->stop = true;
		pthread_cond_signal(&u->wake);
		pthread_mutex_unlock(&u->wait_lock);
		pthread_join(u->thread, NULL);
	}
	for (size_t i = 0; i < u->n; i++)
		entry_free(u->items[i]);
	free(u->items);
	pthread_cond_destroy(&u->wake);
	pthread_mutex_destroy(&u->wait_lock);
	pthread_mutex_destroy(&u->round_lock);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

unsigned usage_interval_s(const struct usage_table *u)
{
	return u->interval_s;
}

unsigned usage_window_s(const struct usage_table *u)
{
	return u->window_s;
}

struct usage_point *usage_query(struct usage_table *u, const char *id, int64_t start, int64_t end,
				size_t *n)
{
	struct usage_point *out = NULL;
	*n = 0;
	pthread_mutex_lock(&u->lock);
	struct usage_entry *e = find(u, id);
	if (e && e->ring.n) {
		out = xcalloc(e->ring.n, sizeof(*out));
		*n = usering_range(&e->ring, start, end, out, e->ring.n);
	}
	pthread_mutex_unlock(&u->lock);
	if (!*n) {
		free(out);
		out = NULL;
	}
	return out;
}

size_t usage_count(struct usage_table *u, const char *id)
{
	pthread_mutex_lock(&u->lock);
	struct usage_entry *e = find(u, id);
	size_t n = e ? e->ring.n : 0;
	pthread_mutex_unlock(&u->lock);
	return n;
}

size_t usage_bytes(struct usage_table *u)
{
	size_t total = 0;
	pthread_mutex_lock(&u->lock);
	for (size_t i = 0; i < u->n; i++)
		total += sizeof(struct usage_entry) +
			 (u->items[i]->ring.s ? u->items[i]->ring.cap * sizeof(struct usage_sample)
					      : 0);
	pthread_mutex_unlock(&u->lock);
	return total;
}
