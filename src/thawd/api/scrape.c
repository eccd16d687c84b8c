/* What GET /metrics computes when it is scraped (metrics_add_collector):
 * sandboxes by state and template, the pools, the host's capacity and
 * use, the object store and the lazy layer. These are read from the
 * mechanisms' own figures (the ones GET /v1/info shows), so nothing is
 * counted twice and nothing goes stale. docs/metrics.md lists them. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "core/capacity.h"
#include "core/quota.h"
#include "core/registry.h"
#include "core/sandbox.h"
#include "core/slotpool.h"
#include "core/stats.h"
#include "core/vmmpool.h"
#include "fdlimit.h"
#include "metrics.h"
#include "remote/remote.h"
#include "template/catalog.h"

static void one(struct buf *out, const char *name, enum metric_type type, const char *help,
		double v)
{
	metrics_write_head(out, name, type, help);
	metrics_write_sample(out, name, NULL, NULL, v);
}

struct sb_count {
	const char *state, *template_name;
	unsigned n;
};

/* Sandboxes by (state, template): a few templates and states, so a
 * linear table is enough. */
static void write_sandboxes(struct buf *out, struct host *h)
{
	size_t n = 0;
	struct sandbox **list = registry_list(h, &n);
	struct sb_count *c = xcalloc(n ? n : 1, sizeof(*c));
	size_t nc = 0;
	for (size_t i = 0; i < n; i++) {
		const char *state = sb_state_name(sandbox_state(list[i]));
		size_t j = 0;
		while (j < nc && !(strcmp(c[j].state, state) == 0 &&
				   strcmp(c[j].template_name, list[i]->template_name) == 0))
			j++;
		if (j == nc)
			c[nc++] = (struct sb_count){ state, list[i]->template_name, 0 };
		c[j].n++;
	}
	metrics_write_head(out, "thaw_sandboxes", METRIC_GAUGE,
			   "Sandboxes this host holds, by state and template");
	for (size_t j = 0; j < nc; j++)
		metrics_write_sample(out, "thaw_sandboxes", METRIC_LABELS("state", "template"),
				     METRIC_LABELS(c[j].state, c[j].template_name), c[j].n);
	free(c);
	registry_list_free(h, list, n);
}

static void write_vmm_pool(struct buf *out, struct host *h)
{
	struct vmmpool_stats vs;
	vmmpool_stats(h->vmms, &vs);
	one(out, "thaw_vmm_pool_depth", METRIC_GAUGE,
	    "Warm VMMs the pool keeps per template (--vmm-pool)", vs.depth);
	metrics_write_head(out, "thaw_vmm_pool_ready", METRIC_GAUGE,
			   "Warm VMMs waiting, by template");
	struct template_info *ti = NULL;
	size_t nti = 0;
	if (catalog_list(h->catalog, &ti, &nti, NULL) == 0) {
		for (size_t i = 0; i < nti; i++)
			metrics_write_sample(out, "thaw_vmm_pool_ready", METRIC_LABELS("template"),
					     METRIC_LABELS(ti[i].name),
					     vmmpool_ready_for(h->vmms, ti[i].name));
		free(ti);
	}
	one(out, "thaw_vmm_pool_taken_total", METRIC_COUNTER,
	    "Creates that took a warm VMM from the pool", (double)vs.taken);
	one(out, "thaw_vmm_pool_discarded_total", METRIC_COUNTER,
	    "Warm VMMs discarded (their template changed or they failed a check)",
	    (double)vs.discarded);
}

static void write_slots(struct buf *out, struct host *h)
{
	struct slotpool_stats st;
	slotpool_stats(h->slots, &st);
	one(out, "thaw_slot_pool_depth", METRIC_GAUGE,
	    "Network slots the pool keeps built (--slot-pool)", st.depth);
	one(out, "thaw_slot_pool_ready", METRIC_GAUGE, "Network slots built and waiting", st.warm);
	metrics_write_head(out, "thaw_slot_pool_taken_total", METRIC_COUNTER,
			   "Network slots taken: from the pool, or built on demand");
	metrics_write_sample(out, "thaw_slot_pool_taken_total", METRIC_LABELS("from"),
			     METRIC_LABELS("pool"), (double)st.taken_warm);
	metrics_write_sample(out, "thaw_slot_pool_taken_total", METRIC_LABELS("from"),
			     METRIC_LABELS("built"), (double)st.taken_cold);
	one(out, "thaw_host_slots_total", METRIC_GAUGE,
	    "Network slots the slot range (--slot-cidr) holds", st.capacity);
	one(out, "thaw_host_slots_used", METRIC_GAUGE, "Network slots held by sandboxes",
	    st.in_use);
}

static void write_capacity(struct buf *out, struct host *h)
{
	struct capacity_stats cs;
	capacity_stats(h->capacity, &cs);
	one(out, "thaw_host_memory_total_bytes", METRIC_GAUGE, "The host's memory",
	    (double)cs.total_bytes);
	one(out, "thaw_host_memory_available_bytes", METRIC_GAUGE,
	    "Memory available (MemAvailable, less what admitted creates will take)",
	    (double)cs.available_bytes);
	one(out, "thaw_host_memory_used_bytes", METRIC_GAUGE,
	    "Memory in use: total less available",
	    (double)(cs.total_bytes > cs.available_bytes ? cs.total_bytes - cs.available_bytes
							 : 0));
	one(out, "thaw_host_memory_reserved_bytes", METRIC_GAUGE,
	    "Memory creates leave free (--memory-reserve)", (double)cs.reserve_bytes);
	one(out, "thaw_host_sandbox_memory_bytes", METRIC_GAUGE,
	    "What an idle sandbox costs, as admission counts it", (double)cs.per_sandbox_bytes);
	one(out, "thaw_host_admissions_refused_total", METRIC_COUNTER,
	    "Creates refused for lack of memory", (double)cs.refused);
	one(out, "thaw_host_sandboxes_max", METRIC_GAUGE,
	    "Most sandboxes this host takes (--max-sandboxes, or what memory allows)",
	    quota_host_max(h->quota));
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	one(out, "thaw_host_cpus", METRIC_GAUGE, "The host's online CPUs", cpus > 0 ? cpus : 0);
	uint64_t total_mb = 0, free_mb = 0;
	if (disk_store_space(h->store, &total_mb, &free_mb) == 0) {
		one(out, "thaw_host_store_total_bytes", METRIC_GAUGE,
		    "Size of the store (sandbox disks, templates, images)",
		    (double)(total_mb << 20));
		one(out, "thaw_host_store_used_bytes", METRIC_GAUGE, "Store space in use",
		    (double)((total_mb - (free_mb < total_mb ? free_mb : total_mb)) << 20));
	}
	one(out, "thaw_process_open_fds", METRIC_GAUGE, "thawd's open descriptors",
	    (double)fdlimit_open_fds());
	one(out, "thaw_process_threads", METRIC_GAUGE, "thawd's threads",
	    (double)fdlimit_threads());
}

/* The object store's figures as remote_info_json has them. */
static const struct {
	const char *path[2]; /* member, or object and member */
	const char *name;
	enum metric_type type;
	const char *help;
} remote_rows[] = {
	{ { "gets" }, "thaw_objstore_gets_total", METRIC_COUNTER,
	  "Object store GETs (thawd's and the lazy layer's)" },
	{ { "bytes_fetched" }, "thaw_objstore_fetched_bytes_total", METRIC_COUNTER,
	  "Bytes fetched from the object store" },
	{ { "uploads" }, "thaw_objstore_puts_total", METRIC_COUNTER, "Object store PUTs" },
	{ { "bytes_uploaded" }, "thaw_objstore_uploaded_bytes_total", METRIC_COUNTER,
	  "Bytes uploaded to the object store" },
	{ { "errors" }, "thaw_objstore_errors_total", METRIC_COUNTER,
	  "Object store requests that failed" },
	{ { "lazy_layer", "cache_hits" }, "thaw_lazy_cache_hits_total", METRIC_COUNTER,
	  "Lazy layer reads served from its cache" },
	{ { "lazy_layer", "gets" }, "thaw_lazy_cache_misses_total", METRIC_COUNTER,
	  "Lazy layer windows fetched from the store (cache misses)" },
	{ { "lazy_layer", "evicted_bytes" }, "thaw_lazy_cache_evicted_bytes_total", METRIC_COUNTER,
	  "Bytes the lazy layer evicted from its cache" },
	{ { "lazy_layer", "cache_bytes" }, "thaw_lazy_cache_bytes", METRIC_GAUGE,
	  "Bytes in the lazy layer's cache" },
	{ { "published" }, "thaw_objstore_published_total", METRIC_COUNTER,
	  "Artifacts this host published to the object store" },
	{ { "imported" }, "thaw_objstore_imported_total", METRIC_COUNTER,
	  "Artifacts this host imported from the object store" },
};

static void write_remote(struct buf *out, struct host *h)
{
	json_t *o = remote_info_json(h);
	if (!o)
		return;
	for (size_t i = 0; i < sizeof(remote_rows) / sizeof(remote_rows[0]); i++) {
		json_t *v = json_object_get(o, remote_rows[i].path[0]);
		if (remote_rows[i].path[1])
			v = json_object_get(v, remote_rows[i].path[1]);
		if (json_is_integer(v))
			one(out, remote_rows[i].name, remote_rows[i].type, remote_rows[i].help,
			    (double)json_integer_value(v));
	}
	json_decref(o);
}

static void collect(struct buf *out, void *ud)
{
	struct host *h = ud;
	write_sandboxes(out, h);
	write_vmm_pool(out, h);
	write_slots(out, h);
	write_capacity(out, h);
	write_remote(out, h);
}

void api_metrics_init(struct host *h)
{
	stats_init();
	api_stats_init();
	metrics_add_collector(metrics_default(), collect, h);
}
