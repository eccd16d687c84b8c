/* The host agent's shared context: configuration and the long-lived
 * subsystems every operation uses. One per thawd process, created at
 * start and torn down at exit; operations borrow it. */
#ifndef THAW_HOST_H
#define THAW_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "disk/disk.h"
#include "fdlimit.h"
#include "log.h"
#include "net/slotaddr.h"
#include "vmm/vmm.h"

enum cgroups_mode { CGROUPS_AUTO, CGROUPS_ON, CGROUPS_OFF };

struct thawd_config {
	char *listen_addr; /* host part */
	int listen_port;
	char *e2b_listen_addr; /* the E2B front (e2b/e2b.h); NULL: off */
	int e2b_listen_port;
	char *metrics_listen_addr; /* GET /metrics without a key (httpapi); NULL: off */
	int metrics_listen_port;
	char *data_dir;
	char *recipes_dir;
	char *agent_path; /* the guest agent binary baked into templates */
	char *qemu_binary;
	enum vmm_accel accel;
	enum store_mode store_mode;
	uint64_t store_bytes;
	enum log_level log_level;
	int max_sandboxes; /* 0: what memory, slots and descriptors allow */
	uint32_t memory_reserve_mb; /* creates leave this much available */
	uint32_t sandbox_memory_mb; /* an idle sandbox's cost; 0: measured */
	int rate_limit; /* API requests per second per key (burst: 2 s worth); 0 = none */
	char *keys_file; /* API keys (httpapi/keys.h); NULL: DATA/api-key is the one admin key */
	int default_timeout_s;
	int max_timeout_s;
	int max_exec_output_mb;
	char *slot_cidr;   /* the /30s of network slots come from here */
	int slot_pool;	   /* network slots kept built and ready */
	char *allow_cidrs; /* comma-separated: guests may reach these despite the block list */
	/* --publish-range ADDR:LO-HI (issue 17): host ports thawd may publish
	 * sandbox ports on; publish_addr NULL: off. */
	char *publish_addr;
	int publish_lo, publish_hi;
	int vmm_pool;	   /* started VMMs kept waiting per template */
	int vmm_pool_min_free_mb; /* no new warm VMM below this much available memory */
	bool vmm_pool_restored;	  /* warm VMMs are restored ahead, not only started */
	bool jail;		  /* VMMs jailed (vmm/jail.h); off only to debug */
	bool failpoints;	  /* fault tests may arm failpoints (failpoint.h) */
	uint32_t vmm_uid_base;	  /* VMM in slot n runs as uid/gid base + n */
	enum cgroups_mode cgroups; /* resource limits for VMMs (vmm/cgroup.h) */
	uint32_t vmm_memory_overhead_mb; /* a VMM's RSS may pass its guest RAM by this */
	uint32_t vmm_max_threads;	 /* threads per VMM process */
	uint32_t max_memory_mb;		 /* largest guest RAM a template may have */
	uint32_t max_vcpus;		 /* most vCPUs a template may have */
	/* Object storage shared by hosts (remote/): none without an endpoint. */
	char *s3_endpoint;
	char *s3_bucket;
	char *s3_region;
	char *s3_credentials_file;
	uint32_t chunk_cache_mb; /* the lazy layer's cache evicts above this */
	uint32_t stream_window_kib; /* window of published artifacts */
	uint32_t s3_gc_interval_s;  /* the bucket's collector runs this often (0: never) */
	uint32_t s3_gc_grace_s;	    /* unnamed objects older than this are deleted */
	char *lazyfs_binary;
	char *cpu_model; /* of bakes; NULL: host under KVM, max under TCG */
	/* A fleet (fleet/join.h): the control plane to join, this host's name
	 * there, where the control plane reaches it, the shared secret. */
	char *join_url, *host_name, *advertise, *fleet_secret_file;
	/* Per-sandbox usage sampling (core/usage.h): how often, how long kept. */
	uint32_t usage_interval_s, usage_window_s;
	bool teardown; /* thawd --teardown: nothing is started, everything ends */
};

struct db;
struct capacity;
struct catalog;
struct images;
struct quota;
struct registry;
struct remote;
struct slotpool;
struct supervisor;
struct vmmpool;

struct publish_table;
struct usage_table;

struct host {
	const struct thawd_config *cfg;
	struct db *db;
	struct disk_store *store;
	struct catalog *catalog;
	struct images *images; /* sandbox images: forks, pauses */
	struct vmm_host vmm;
	const struct vmm_driver *drv;
	char accel_why[128];
	/* Prefix of every namespace and VMM name this instance owns:
	 * "thaw-<6 hex of the data dir>-", so two thawd instances on one
	 * host never touch each other's sandboxes. */
	char ns_prefix[24];
	char if_prefix[12]; /* host veth names: "t<6 hex>" */
	char nft_table[16]; /* root-namespace rules: "thaw_<6 hex>" */
	struct slot_range slot_range;
	struct slotpool *slots;
	struct vmmpool *vmms;
	char *sandboxes_dir; /* STORE/sandboxes */
	char *cache_dir;     /* STORE/cache */
	struct jail_plan *jail; /* NULL with --jail off; its root: DATA/jail, an empty dir */
	struct registry *reg;
	struct quota *quota;	   /* sandbox caps, per key and per host */
	struct idem_table *idem;   /* creates' Idempotency-Keys (core/idempotency.h) */
	struct capacity *capacity; /* admission by memory */
	struct supervisor *sup;
	struct remote *remote; /* object storage and the lazy layer; NULL without */
	uint64_t started_at;
	struct fdlimit nofile; /* thawd's RLIMIT_NOFILE, raised at start */
	int lock_fd;   /* flock on DATA/thawd.lock: one thawd per data dir */
	bool stopping; /* set (atomically) when thawd shuts down */
	struct publish_table *published; /* ops/publish.c: the open listeners */
	struct usage_table *usage;	 /* per-sandbox usage history (core/usage.h) */
};

/* Whether a machine of this size may run here (--max-memory,
 * --max-vcpus); `code` is the error's code when it may not. */
int host_check_machine(const struct host *h, const char *template_name, uint32_t memory_mb,
		       uint32_t vcpus, enum err_code code, struct thaw_err **err);

#endif
