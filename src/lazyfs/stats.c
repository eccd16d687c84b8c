/* What MOUNT/.stats, MOUNT/<id>/.stats and MOUNT/<id>/.trace say.
 *
 * Global counters, since the process started:
 *   gets                  Range GETs sent to the store (one per window fetch)
 *   bytes_fetched         bytes those GETs returned
 *   zero_windows_skipped  window reads answered with zeros, no fetch: one
 *                         per read request per all-zero window it touches
 *   cache_hits            window reads served from the cache: one per read
 *                         request per window that was present when it came
 *   fetch_waits           window reads that waited for a fetch another
 *                         reader (or the prefetcher) had started
 *   fetch_errors          window fetches that failed (store error after its
 *                         retries, wrong SHA-256, cache write error)
 *   evicted_bytes         bytes dropped by eviction
 *   prefetched            windows fetched by the prefetcher
 *   verify_failures       windows found on disk at start whose bytes no
 *                         longer matched (re-fetched)
 * and the cache now: cache_bytes (present windows), pinned_bytes (present
 * windows open files name), cache_high_bytes, cache_low_bytes. */
#include "lazyfs.h"

#include <jansson.h>
#include <stdlib.h>

static char *dump(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		abort();
	return s;
}

char *stats_global_json(struct cache *c)
{
	json_t *o = json_object();
	const struct {
		const char *name;
		uint64_t v;
	} rows[] = {
		{ "gets", lazy_ctr.gets },
		{ "bytes_fetched", lazy_ctr.bytes_fetched },
		{ "zero_windows_skipped", lazy_ctr.zero_windows_skipped },
		{ "cache_hits", lazy_ctr.cache_hits },
		{ "fetch_waits", lazy_ctr.fetch_waits },
		{ "fetch_errors", lazy_ctr.fetch_errors },
		{ "evicted_bytes", lazy_ctr.evicted_bytes },
		{ "prefetched", lazy_ctr.prefetched },
		{ "verify_failures", lazy_ctr.verify_failures },
		{ "cache_bytes", c->bytes },
		{ "pinned_bytes", cache_pinned_bytes(c) },
		{ "cache_high_bytes", c->high },
		{ "cache_low_bytes", c->low },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		json_object_set_new(o, rows[i].name, json_integer((json_int_t)rows[i].v));
	return dump(o);
}

static json_t *file_stats(const struct artifact *a, enum manifest_wfile which)
{
	const struct manifest_file *f = &a->m.files[which];
	size_t zero = 0, present = 0;
	for (size_t i = 0; i < f->nwindows; i++) {
		const struct manifest_window *w = &f->w[i];
		if (!w->object) {
			zero++;
			continue;
		}
		struct cobj *o = a->objs[w->object_index];
		pthread_mutex_lock(&o->mu);
		present += o->w[w->offset / a->m.window_bytes].state == CW_PRESENT;
		pthread_mutex_unlock(&o->mu);
	}
	size_t data = f->nwindows - zero;
	double pct = data ? 100.0 * (double)present / (double)data : 100.0;
	return json_pack("{s:I,s:I,s:I,s:I,s:f}", "size", (json_int_t)f->size, "windows",
			 (json_int_t)f->nwindows, "zero", (json_int_t)zero, "present",
			 (json_int_t)present, "cached_percent", pct);
}

/* {"id", "window_bytes", "memory": {size, windows, zero, present,
 * cached_percent}, "rootfs": {...}}: present counts windows with data
 * in the cache, cached_percent is present / (windows - zero). */
char *stats_artifact_json(const struct artifact *a)
{
	json_t *o =
		json_pack("{s:s,s:I}", "id", a->id, "window_bytes", (json_int_t)a->m.window_bytes);
	for (int i = 0; i < MANIFEST_WFILE_COUNT; i++)
		json_object_set_new(o, manifest_wfile_name((enum manifest_wfile)i),
				    file_stats(a, (enum manifest_wfile)i));
	return dump(o);
}

/* The memory file's windows in the order reads first touched them. */
char *stats_trace_json(struct artifact *a)
{
	json_t *l = json_array();
	pthread_mutex_lock(&a->trace_mu);
	for (size_t i = 0; i < a->ntrace; i++)
		json_array_append_new(l, json_integer(a->trace[i]));
	pthread_mutex_unlock(&a->trace_mu);
	return dump(l);
}
