#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "ids.h"
#include "template/meta.h"

#ifndef THAW_VERSION
#define THAW_VERSION "dev"
#endif

/* Longest data dir that keeps DATA/run/<id>/qmp.sock under the 108-byte
 * limit of a unix socket path. */
#define DATA_DIR_MAX 70

typedef int (*opt_setter)(struct thawd_config *c, const char *v);

struct option_spec {
	const char *name; /* --name */
	const char *env;  /* THAW_... */
	const char *arg;  /* NULL for a flag */
	opt_setter set;
	const char *help;
};

static int set_str(char **field, const char *v)
{
	free(*field);
	*field = xstrdup(v);
	return 0;
}

static int parse_int(const char *v, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || end == v || n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}

int config_parse_listen(const char *s, char **addr, int *port)
{
	const char *colon = strrchr(s, ':');
	long p;
	if (!colon || colon == s || parse_int(colon + 1, 1, 65535, &p) < 0)
		return -1;
	*addr = xstrndup(s, (size_t)(colon - s));
	*port = (int)p;
	return 0;
}

static int set_listen(struct thawd_config *c, const char *v)
{
	free(c->listen_addr);
	c->listen_addr = NULL;
	return config_parse_listen(v, &c->listen_addr, &c->listen_port);
}
static int set_e2b_listen(struct thawd_config *c, const char *v)
{
	free(c->e2b_listen_addr);
	c->e2b_listen_addr = NULL;
	return config_parse_listen(v, &c->e2b_listen_addr, &c->e2b_listen_port);
}
static int set_metrics_listen(struct thawd_config *c, const char *v)
{
	free(c->metrics_listen_addr);
	c->metrics_listen_addr = NULL;
	return config_parse_listen(v, &c->metrics_listen_addr, &c->metrics_listen_port);
}
/* ADDR:LO-HI, an IPv4 address and a port range (issue 17). */
static int set_publish_range(struct thawd_config *c, const char *v)
{
	const char *colon = strrchr(v, ':');
	const char *dash = colon ? strchr(colon, '-') : NULL;
	long lo, hi;
	struct in_addr a;
	if (!colon || !dash || colon == v || colon - v >= INET_ADDRSTRLEN)
		return -1;
	_cleanup_free_ char *addr = xstrndup(v, (size_t)(colon - v));
	_cleanup_free_ char *los = xstrndup(colon + 1, (size_t)(dash - colon - 1));
	if (inet_pton(AF_INET, addr, &a) != 1 || parse_int(los, 1, 65535, &lo) < 0 ||
	    parse_int(dash + 1, 1, 65535, &hi) < 0 || hi < lo)
		return -1;
	free(c->publish_addr);
	c->publish_addr = steal_pointer(&addr);
	c->publish_lo = (int)lo;
	c->publish_hi = (int)hi;
	return 0;
}
static int set_data(struct thawd_config *c, const char *v)
{
	return set_str(&c->data_dir, v);
}
static int set_recipes(struct thawd_config *c, const char *v)
{
	return set_str(&c->recipes_dir, v);
}
static int set_agent(struct thawd_config *c, const char *v)
{
	return set_str(&c->agent_path, v);
}
static int set_qemu(struct thawd_config *c, const char *v)
{
	return set_str(&c->qemu_binary, v);
}
static int set_accel(struct thawd_config *c, const char *v)
{
	return accel_parse(v, &c->accel);
}
static int set_store(struct thawd_config *c, const char *v)
{
	return store_mode_parse(v, &c->store_mode);
}
static int set_store_size(struct thawd_config *c, const char *v)
{
	long gib;
	if (parse_int(v, 1, 65536, &gib) < 0)
		return -1;
	c->store_bytes = (uint64_t)gib << 30;
	return 0;
}
static int set_log_level(struct thawd_config *c, const char *v)
{
	return log_parse_level(v, &c->log_level);
}
/* An option that is one number in a range, stored in a field. */
#define NUMBER_SETTER(fn, field, type, lo, hi)                                                     \
	static int fn(struct thawd_config *c, const char *v)                                       \
	{                                                                                          \
		long n;                                                                            \
		int rc = parse_int(v, lo, hi, &n);                                                 \
		c->field = (type)n;                                                                \
		return rc;                                                                         \
	}

NUMBER_SETTER(set_max_sandboxes, max_sandboxes, int, 0, 16384)
NUMBER_SETTER(set_memory_reserve, memory_reserve_mb, uint32_t, 0, 1L << 24)
NUMBER_SETTER(set_sandbox_memory, sandbox_memory_mb, uint32_t, 0, 1L << 20)
NUMBER_SETTER(set_rate_limit, rate_limit, int, 0, 1000000)
NUMBER_SETTER(set_default_timeout, default_timeout_s, int, 0, 30L * 86400)
NUMBER_SETTER(set_max_timeout, max_timeout_s, int, 1, 30L * 86400)
NUMBER_SETTER(set_max_output, max_exec_output_mb, int, 1, 1024)

/* The position of v in a NULL-terminated list of words, or -1. */
static int word_index(const char *v, const char *const words[])
{
	for (int i = 0; words[i]; i++)
		if (strcmp(v, words[i]) == 0)
			return i;
	return -1;
}

static int set_failpoints(struct thawd_config *c, const char *v)
{
	int i = word_index(v, (const char *const[]){ "off", "on", NULL });
	c->failpoints = i == 1;
	return i < 0 ? -1 : 0;
}

static int set_jail(struct thawd_config *c, const char *v)
{
	int i = word_index(v, (const char *const[]){ "off", "on", NULL });
	c->jail = i == 1;
	return i < 0 ? -1 : 0;
}
/* Room for every slot of a /16 above it, and never root's. */
NUMBER_SETTER(set_uid_base, vmm_uid_base, uint32_t, 1000, 4294967294L - 65536)
static int set_cgroups(struct thawd_config *c, const char *v)
{
	/* In enum cgroups_mode's order. */
	int i = word_index(v, (const char *const[]){ "auto", "on", "off", NULL });
	c->cgroups = i < 0 ? CGROUPS_AUTO : (enum cgroups_mode)i;
	return i < 0 ? -1 : 0;
}
NUMBER_SETTER(set_mem_overhead, vmm_memory_overhead_mb, uint32_t, 16, 65536)
NUMBER_SETTER(set_max_threads, vmm_max_threads, uint32_t, 16, 100000)

NUMBER_SETTER(set_max_memory, max_memory_mb, uint32_t, 128, 1048576)
NUMBER_SETTER(set_max_vcpus, max_vcpus, uint32_t, 1, 1024)

static int set_slot_cidr(struct thawd_config *c, const char *v)
{
	struct slot_range r;
	if (slot_range_parse(v, &r, NULL) < 0)
		return -1;
	return set_str(&c->slot_cidr, v);
}
NUMBER_SETTER(set_slot_pool, slot_pool, int, 0, 1024)
static int set_allow(struct thawd_config *c, const char *v)
{
	/* Checked for shape here; nftables checks each address. */
	for (const char *p = v; *p; p++)
		if (!strchr("0123456789./, ", *p))
			return -1;
	return set_str(&c->allow_cidrs, v);
}

static int set_keys_file(struct thawd_config *c, const char *v)
{
	return *v ? set_str(&c->keys_file, v) : -1;
}

NUMBER_SETTER(set_vmm_pool, vmm_pool, int, 0, 64)
NUMBER_SETTER(set_vmm_pool_free, vmm_pool_min_free_mb, int, 0, 1 << 20)

NUMBER_SETTER(set_usage_interval, usage_interval_s, uint32_t, 1, 3600)
NUMBER_SETTER(set_usage_window, usage_window_s, uint32_t, 1, 7 * 86400)

static int set_vmm_pool_mode(struct thawd_config *c, const char *v)
{
	int i = word_index(v, (const char *const[]){ "started", "restored", NULL });
	c->vmm_pool_restored = i == 1;
	return i < 0 ? -1 : 0;
}

static int set_s3_endpoint(struct thawd_config *c, const char *v)
{
	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0 &&
	    strncmp(v, "file:///", 8) != 0)
		return -1;
	return set_str(&c->s3_endpoint, v);
}
static int set_s3_bucket(struct thawd_config *c, const char *v)
{
	/* S3's bucket naming rules: 3-63 of lowercase, digits, '.', '-'. */
	size_t n = strlen(v);
	if (n < 3 || n > 63 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789.-") != n)
		return -1;
	return set_str(&c->s3_bucket, v);
}
static int set_s3_region(struct thawd_config *c, const char *v)
{
	size_t n = strlen(v);
	if (n < 1 || n > 32 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
		return -1;
	return set_str(&c->s3_region, v);
}
static int set_s3_credentials(struct thawd_config *c, const char *v)
{
	return *v ? set_str(&c->s3_credentials_file, v) : -1;
}
static int set_cpu_model(struct thawd_config *c, const char *v)
{
	return meta_cpu_valid(v) ? set_str(&c->cpu_model, v) : -1;
}
static int set_join(struct thawd_config *c, const char *v)
{
	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
		return -1;
	return set_str(&c->join_url, v);
}
static int set_host_name(struct thawd_config *c, const char *v)
{
	return id_valid_template(v) ? set_str(&c->host_name, v) : -1;
}
static int set_advertise(struct thawd_config *c, const char *v)
{
	char *addr = NULL;
	int port = 0;
	int rc = config_parse_listen(v, &addr, &port);
	free(addr);
	return rc == 0 ? set_str(&c->advertise, v) : -1;
}
static int set_fleet_secret(struct thawd_config *c, const char *v)
{
	return *v ? set_str(&c->fleet_secret_file, v) : -1;
}
static int set_lazyfs(struct thawd_config *c, const char *v)
{
	return *v ? set_str(&c->lazyfs_binary, v) : -1;
}
NUMBER_SETTER(set_chunk_cache, chunk_cache_mb, uint32_t, 64, 1L << 24)
NUMBER_SETTER(set_s3_gc_interval, s3_gc_interval_s, uint32_t, 0, 30L * 86400)
/* At least an hour: a shorter grace could take the objects of an upload
 * whose manifest is not up yet. */
NUMBER_SETTER(set_s3_gc_grace, s3_gc_grace_s, uint32_t, 3600, 365L * 86400)
static int set_stream_window(struct thawd_config *c, const char *v)
{
	long kib;
	/* A power of two the manifest format takes (64 KiB to 64 MiB). */
	if (parse_int(v, 64, 65536, &kib) < 0 || (kib & (kib - 1)) != 0)
		return -1;
	c->stream_window_kib = (uint32_t)kib;
	return 0;
}

static const struct option_spec options[] = {
	{ "listen", "THAW_LISTEN", "ADDR:PORT", set_listen, "API address (127.0.0.1:7420)" },
	{ "e2b-listen", "THAW_E2B_LISTEN", "ADDR:PORT", set_e2b_listen,
	  "address of the E2B-compatible API for E2B's SDKs (docs/e2b.md; off)" },
	{ "metrics-listen", "THAW_METRICS_LISTEN", "ADDR:PORT", set_metrics_listen,
	  "address of a keyless listener serving only GET /metrics; bind it to an internal "
	  "address (docs/metrics.md; off)" },
	{ "publish-range", "THAW_PUBLISH_RANGE", "ADDR:LO-HI", set_publish_range,
	  "host address and ports sandbox ports may be published on (docs/ports.md; off)" },
	{ "data-dir", "THAW_DATA_DIR", "DIR", set_data,
	  "state, templates, sandboxes (/var/lib/thaw)" },
	{ "recipes", "THAW_RECIPES_DIR", "DIR", set_recipes,
	  "template recipes (templates/ of the source tree)" },
	{ "agent", "THAW_AGENT", "PATH", set_agent,
	  "guest agent binary (thaw-agent next to thawd)" },
	{ "qemu", "THAW_QEMU", "PATH", set_qemu, "QEMU binary (qemu-system-x86_64)" },
	{ "accel", "THAW_ACCEL", "auto|kvm|tcg", set_accel,
	  "accelerator (auto: KVM only where it is real)" },
	{ "cpu-model", "THAW_CPU_MODEL", "NAME", set_cpu_model,
	  "CPU model of new bakes: a QEMU model every host of the fleet has (e.g. "
	  "Skylake-Server-v4, EPYC-v3), so that other hosts can restore them (host under KVM: "
	  "this host only; max under TCG)" },
	{ "store", "THAW_STORE", "auto|reflink|xfs-loop", set_store, "disk store (auto)" },
	{ "store-size", "THAW_STORE_SIZE_GB", "GIB", set_store_size,
	  "size of a new XFS store image (64)" },
	{ "max-sandboxes", "THAW_MAX_SANDBOXES", "N", set_max_sandboxes,
	  "sandboxes with a VM per host (0: what memory holds at --sandbox-memory each, "
	  "within the slots and descriptors)" },
	{ "memory-reserve", "THAW_MEMORY_RESERVE_MB", "MIB", set_memory_reserve,
	  "creates, forks and resumes leave this much memory available, else 503 (1024)" },
	{ "sandbox-memory", "THAW_SANDBOX_MEMORY_MB", "MIB", set_sandbox_memory,
	  "host memory an idle sandbox costs (0: measured on the warm VMMs)" },
	{ "rate-limit", "THAW_RATE_LIMIT", "N", set_rate_limit,
	  "API requests per second per key, bursts of 2 s (0 = none)" },
	{ "keys-file", "THAW_KEYS_FILE", "PATH", set_keys_file,
	  "API keys, roles and per-key limits (JSON; default: DATA/api-key, one admin key)" },
	{ "default-timeout", "THAW_DEFAULT_TIMEOUT", "SECONDS", set_default_timeout,
	  "sandbox timeout when none is asked (300; 0 = none)" },
	{ "max-timeout", "THAW_MAX_TIMEOUT", "SECONDS", set_max_timeout,
	  "largest timeout a client may ask (86400)" },
	{ "max-exec-output", "THAW_MAX_EXEC_OUTPUT_MB", "MIB", set_max_output,
	  "per stream per exec (64)" },
	{ "slot-cidr", "THAW_SLOT_CIDR", "CIDR", set_slot_cidr,
	  "network slots get /30s from here (10.200.0.0/16)" },
	{ "slot-pool", "THAW_SLOT_POOL", "N", set_slot_pool,
	  "network slots kept ready (4; 0 = build on demand)" },
	{ "vmm-pool", "THAW_VMM_POOL", "N", set_vmm_pool,
	  "started VMMs kept waiting per template (3; 0 = none)" },
	{ "vmm-pool-mode", "THAW_VMM_POOL_MODE", "restored|started", set_vmm_pool_mode,
	  "warm VMMs wait restored and probed, or only started (restored)" },
	{ "vmm-pool-min-free", "THAW_VMM_POOL_MIN_FREE_MB", "MIB", set_vmm_pool_free,
	  "no warm VMM started below this much available memory (1024)" },
	{ "failpoints", "THAW_FAILPOINTS", "on|off", set_failpoints,
	  "tests only: admin keys may arm failpoints (POST /v1/debug/failpoint) (off)" },
	{ "jail", "THAW_JAIL", "on|off", set_jail,
	  "each VMM as its own uid, in its own root, seccomp on (on)" },
	{ "vmm-uid-base", "THAW_VMM_UID_BASE", "UID", set_uid_base,
	  "VMM in slot n runs as uid and gid UID+n (1900000000)" },
	{ "cgroups", "THAW_CGROUPS", "auto|on|off", set_cgroups,
	  "memory, CPU and thread limits per VMM (auto: where the host has them)" },
	{ "vmm-memory-overhead", "THAW_VMM_MEMORY_OVERHEAD_MB", "MIB", set_mem_overhead,
	  "a VMM's memory limit is its guest RAM plus this (512: TCG's 64 MiB code cache and "
	  "QEMU)" },
	{ "vmm-max-threads", "THAW_VMM_MAX_THREADS", "N", set_max_threads,
	  "threads per VMM process (128)" },
	{ "usage-interval", "THAW_USAGE_INTERVAL", "SECONDS", set_usage_interval,
	  "how often each running sandbox's CPU, memory, disk and network use is sampled (5)" },
	{ "usage-window", "THAW_USAGE_WINDOW", "SECONDS", set_usage_window,
	  "how far back GET /v1/sandboxes/{id}/metrics reaches, in memory only (3600)" },
	{ "max-memory", "THAW_MAX_MEMORY_MB", "MIB", set_max_memory,
	  "largest guest RAM a template may have (16384)" },
	{ "max-vcpus", "THAW_MAX_VCPUS", "N", set_max_vcpus,
	  "most vCPUs a template may have (the host's CPUs)" },
	{ "allow", "THAW_ALLOW", "CIDR,...", set_allow,
	  "destinations guests may reach despite the private-range block" },
	{ "s3-endpoint", "THAW_S3_ENDPOINT", "URL", set_s3_endpoint,
	  "object store shared by hosts: http(s)://host[:port] of any S3-compatible store, or "
	  "file:///dir (none: artifacts stay local)" },
	{ "s3-bucket", "THAW_S3_BUCKET", "NAME", set_s3_bucket, "the object store's bucket" },
	{ "s3-region", "THAW_S3_REGION", "NAME", set_s3_region,
	  "the bucket's region, for request signing (us-east-1)" },
	{ "s3-credentials-file", "THAW_S3_CREDENTIALS_FILE", "PATH", set_s3_credentials,
	  "access key and secret, two lines (default: AWS_ACCESS_KEY_ID and "
	  "AWS_SECRET_ACCESS_KEY from the environment)" },
	{ "chunk-cache", "THAW_CHUNK_CACHE_MB", "MIB", set_chunk_cache,
	  "local cache of streamed memory and disk windows; least recently used ones are "
	  "evicted above it (16384)" },
	{ "stream-window-kib", "THAW_STREAM_WINDOW_KIB", "KIB", set_stream_window,
	  "the unit in which published memory and disks are stored, fetched, checked and cached: "
	  "a power of two from 64 to 65536 (1024: a restore then fetches ~9 % of a 512 MiB "
	  "template's memory; 4096 fetches ~16 %, with fewer requests)" },
	{ "s3-gc-interval", "THAW_S3_GC_INTERVAL", "SECONDS", set_s3_gc_interval,
	  "how often this host collects the bucket: objects no manifest names are deleted "
	  "(21600; 0 = never)" },
	{ "s3-gc-grace", "THAW_S3_GC_GRACE", "SECONDS", set_s3_gc_grace,
	  "an object no manifest names is deleted only once older than this, longer than any "
	  "upload takes (86400; at least 3600)" },
	{ "join", "THAW_JOIN", "URL", set_join,
	  "the control plane of a fleet to join (thaw-control): this host registers there and "
	  "heartbeats every 2 s (none: a host on its own)" },
	{ "host-name", "THAW_HOST_NAME", "NAME", set_host_name,
	  "this host's name in the fleet, [a-z0-9-] (the machine's host name)" },
	{ "advertise", "THAW_ADVERTISE", "ADDR:PORT", set_advertise,
	  "where the control plane reaches this host (the --listen address)" },
	{ "fleet-secret-file", "THAW_FLEET_SECRET_FILE", "PATH", set_fleet_secret,
	  "this host's key (thaw-control --print-host-key NAME) or the fleet secret to derive "
	  "it from, one line (needed with --join)" },
	{ "lazyfs", "THAW_LAZYFS", "PATH", set_lazyfs,
	  "the lazy layer that streams artifacts (thaw-lazyfs next to thawd)" },
	{ "log-level", "THAW_LOG_LEVEL", "LEVEL", set_log_level,
	  "error|warn|notice|info|debug (notice)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: thawd [OPTIONS]\n       thawd --teardown [OPTIONS]\n\n");
	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		fprintf(f, "  --%s %s\n      %s [env %s]\n", options[i].name, options[i].arg,
			options[i].help, options[i].env);
	fprintf(f, "  --teardown\n      delete every sandbox of this data dir, unmount its store, "
		   "exit\n"
		   "  --help, --version\n");
}

static void defaults(struct thawd_config *c)
{
	memset(c, 0, sizeof(*c));
	c->listen_addr = xstrdup("127.0.0.1");
	c->listen_port = 7420;
	c->data_dir = xstrdup("/var/lib/thaw");
	c->qemu_binary = xstrdup("qemu-system-x86_64");
	c->accel = ACCEL_AUTO;
	c->store_mode = STORE_AUTO;
	c->store_bytes = 64ull << 30;
	c->log_level = LOG_LVL_NOTICE;
	c->max_sandboxes = 0;
	c->memory_reserve_mb = 1024;
	c->default_timeout_s = 300;
	c->max_timeout_s = 86400;
	c->max_exec_output_mb = 64;
	c->slot_cidr = xstrdup("10.200.0.0/16");
	c->slot_pool = 4;
	c->vmm_pool = 3;
	c->vmm_pool_restored = true;
	c->vmm_pool_min_free_mb = 1024;
	c->jail = true;
	c->vmm_uid_base = 1900000000u;
	c->cgroups = CGROUPS_AUTO;
	c->vmm_memory_overhead_mb = 512;
	c->vmm_max_threads = 128;
	c->max_memory_mb = 16384;
	c->usage_interval_s = 5;
	c->usage_window_s = 3600;
	c->chunk_cache_mb = 16384;
	c->stream_window_kib = 1024;
	c->s3_gc_interval_s = 21600;
	c->s3_gc_grace_s = 86400;
	/* More vCPUs than the host has only make a guest slower. */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	c->max_vcpus = cpus > 0 ? (uint32_t)cpus : 1;
}

/* Defaults that depend on where thawd runs from: build/bin/thawd in a
 * source tree finds ../../templates and build/bin/thaw-agent. */
static void exe_relative_defaults(struct thawd_config *c)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return;
	*slash = '\0';
	if (!c->agent_path)
		c->agent_path = xasprintf("%s/thaw-agent", exe);
	if (!c->lazyfs_binary)
		c->lazyfs_binary = xasprintf("%s/thaw-lazyfs", exe);
	if (!c->recipes_dir) {
		char *tree = xasprintf("%s/../../templates", exe);
		char real[PATH_MAX];
		if (realpath(tree, real))
			c->recipes_dir = xstrdup(real);
		else
			c->recipes_dir = xstrdup("/usr/share/thaw/templates");
		free(tree);
	}
}

static const struct option_spec *find_option(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		if (strcmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

static int apply(struct thawd_config *c, const struct option_spec *o, const char *v,
		 const char *from)
{
	if (o->set(c, v) < 0) {
		fprintf(stderr, "thawd: invalid %s for %s: \"%s\" (expected %s)\n", from, o->name,
			v, o->arg);
		return -1;
	}
	return 0;
}

static int check_data_dir(struct thawd_config *c)
{
	if (c->data_dir[0] != '/') {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return -1;
		char *abs = xasprintf("%s/%s", cwd, c->data_dir);
		free(c->data_dir);
		c->data_dir = abs;
	}
	size_t n = strlen(c->data_dir);
	while (n > 1 && c->data_dir[n - 1] == '/')
		c->data_dir[--n] = '\0';
	if (n > DATA_DIR_MAX || strpbrk(c->data_dir, ", \t\n")) {
		fprintf(stderr,
			"thawd: --data-dir must be at most %d characters without commas or spaces "
			"(QEMU options and socket paths)\n",
			DATA_DIR_MAX);
		return -1;
	}
	return 0;
}

/* --join needs the secret; the name defaults to the machine's, the
 * address to --listen (which must then be one others can reach). */
static int check_fleet(struct thawd_config *c)
{
	if (!c->join_url) {
		if (c->host_name || c->advertise || c->fleet_secret_file) {
			fprintf(stderr, "thawd: --host-name, --advertise and --fleet-secret-file "
					"need --join\n");
			return -1;
		}
		return 0;
	}
	if (!c->fleet_secret_file) {
		fprintf(stderr, "thawd: --join needs --fleet-secret-file\n");
		return -1;
	}
	/* A host's API is the control plane's (and its operator's admin
	 * key): tenants' keys would let them around the fleet's caps. */
	if (c->keys_file) {
		fprintf(stderr, "thawd: a fleet host takes no --keys-file: tenants' keys go to "
				"thaw-control, which alone calls the host\n");
		return -1;
	}
	if (!c->host_name) {
		char name[256] = "";
		gethostname(name, sizeof(name) - 1);
		for (char *p = name; *p; p++)
			*p = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a')
			     : ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')) ? *p
											  : '-';
		name[63] = '\0';
		if (!id_valid_template(name)) {
			fprintf(stderr, "thawd: this machine's host name is not a fleet name: "
					"give --host-name\n");
			return -1;
		}
		c->host_name = xstrdup(name);
	}
	if (!c->advertise) {
		if (!strcmp(c->listen_addr, "0.0.0.0")) {
			fprintf(stderr, "thawd: --listen 0.0.0.0 is no address for the control plane: "
					"give --advertise\n");
			return -1;
		}
		c->advertise = xasprintf("%s:%d", c->listen_addr, c->listen_port);
	}
	return 0;
}

int config_load(int argc, char **argv, struct thawd_config *c, bool *teardown)
{
	defaults(c);
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const char *v = getenv(options[i].env);
		if (v && *v && apply(c, &options[i], v, "environment value") < 0)
			goto fail;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			config_free(c);
			return 1;
		}
		if (strcmp(a, "--version") == 0) {
			printf("thawd %s\n", THAW_VERSION);
			config_free(c);
			return 1;
		}
		if (strcmp(a, "--teardown") == 0) {
			*teardown = c->teardown = true;
			continue;
		}
		const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
		_cleanup_free_ char *name =
			strncmp(a, "--", 2) == 0
				? xstrndup(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2))
				: NULL;
		const struct option_spec *o = name ? find_option(name) : NULL;
		if (!o) {
			fprintf(stderr, "thawd: unknown argument \"%s\" (see --help)\n", a);
			goto fail;
		}
		const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!v) {
			fprintf(stderr, "thawd: --%s needs a value (%s)\n", o->name, o->arg);
			goto fail;
		}
		if (apply(c, o, v, "value") < 0)
			goto fail;
	}
	exe_relative_defaults(c);
	if (check_data_dir(c) < 0)
		goto fail;
	if (c->default_timeout_s > c->max_timeout_s) {
		fprintf(stderr, "thawd: --default-timeout is larger than --max-timeout\n");
		goto fail;
	}
	if (c->s3_endpoint && !c->s3_bucket && strncmp(c->s3_endpoint, "file://", 7) != 0) {
		fprintf(stderr, "thawd: --s3-endpoint needs --s3-bucket\n");
		goto fail;
	}
	if (check_fleet(c) < 0)
		goto fail;
	if (!c->s3_endpoint && (c->s3_bucket || c->s3_credentials_file)) {
		fprintf(stderr,
			"thawd: --s3-bucket and --s3-credentials-file need --s3-endpoint\n");
		goto fail;
	}
	return 0;
fail:
	config_free(c);
	return -1;
}

void config_free(struct thawd_config *c)
{
	free(c->listen_addr);
	free(c->e2b_listen_addr);
	free(c->metrics_listen_addr);
	free(c->data_dir);
	free(c->recipes_dir);
	free(c->agent_path);
	free(c->qemu_binary);
	free(c->slot_cidr);
	free(c->allow_cidrs);
	free(c->publish_addr);
	free(c->keys_file);
	free(c->s3_endpoint);
	free(c->s3_bucket);
	free(c->s3_region);
	free(c->cpu_model);
	free(c->join_url);
	free(c->host_name);
	free(c->advertise);
	free(c->fleet_secret_file);
	free(c->s3_credentials_file);
	free(c->lazyfs_binary);
	memset(c, 0, sizeof(*c));
}
