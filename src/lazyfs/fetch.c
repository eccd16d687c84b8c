/* Getting windows into the cache: one Range GET per missing window however
 * many readers wait for it (the window is CW_BUSY while its fetch runs,
 * the others wait on the object's condition variable), at most `max`
 * GETs at once with demand faults ahead of prefetching, every window
 * checked against its SHA-256 before it is written. A window that fails
 * (store error, wrong bytes) is never cached; its readers get EIO. */
#include "lazyfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"
#include "objstore.h"
#include "sha256.h"

struct prefetch_job {
	struct artifact *a;
	size_t next; /* in a's memory prefetch list */
	unsigned inflight;
	bool *listed; /* per memory window: in the prefetch list */
	struct prefetch_job *link;
};

/* Windows of a prefetch that lie next to each other in their object go
 * in one ranged GET, up to this many: the store's latency is paid per
 * request, and a restore's hot windows come in runs. */
#define PREFETCH_RUN_MAX 16

/* Prefetch may take all but this many of the GETs: a guest's fault (or
 * QEMU's first read of a disk) never waits for a whole round of prefetch
 * GETs to finish. */
#define DEMAND_RESERVED 2

static bool gate_enter(struct fetcher *f, bool demand)
{
	pthread_mutex_lock(&f->mu);
	if (demand)
		f->demand_waiting++;
	unsigned prefetch_max = f->max > DEMAND_RESERVED ? f->max - DEMAND_RESERVED : 1;
	while (demand ? f->in_use >= f->max
		      : (f->in_use >= prefetch_max || (f->demand_waiting && !f->stopping)))
		pthread_cond_wait(&f->cv, &f->mu);
	if (demand)
		f->demand_waiting--;
	bool ok = demand || !f->stopping;
	if (ok)
		f->in_use++;
	pthread_mutex_unlock(&f->mu);
	return ok;
}

static void gate_leave(struct fetcher *f)
{
	pthread_mutex_lock(&f->mu);
	f->in_use--;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static uint64_t tag_of(const uint8_t sha[32])
{
	uint64_t t;
	memcpy(&t, sha, sizeof(t));
	return t ? t : 1; /* 0 means unverified */
}

static bool sha_matches(const void *data, size_t len, const uint8_t want[32])
{
	static const char digits[] = "0123456789abcdef";
	char got[SHA256_HEX_LEN + 1], exp[SHA256_HEX_LEN + 1];
	sha256_hex(data, len, got);
	for (int i = 0; i < 32; i++) {
		exp[2 * i] = digits[want[i] >> 4];
		exp[2 * i + 1] = digits[want[i] & 15];
	}
	exp[64] = '\0';
	return strcmp(got, exp) == 0;
}

/* GETs, checks and stores one window (held CW_BUSY by the caller). */
static int fetch_one(struct fetcher *f, struct cobj *o, size_t idx, const struct manifest_window *w,
		     uint32_t len, bool demand)
{
	_cleanup_free_ void *buf = xmalloc(len ? len : 1);
	_cleanup_err_ struct thaw_err *e = NULL;
	if (!gate_enter(f, demand))
		return -1;
	lazy_ctr.gets++;
	int64_t t0 = cache_now_ns();
	int rc = objstore_get_range(f->store, w->object, w->offset, len, buf, &e);
	gate_leave(f);
	log_debug("lazyfs.fetched", "object=%s window=%llu demand=%d get_ms=%.1f", w->object,
		  (unsigned long long)(w->offset / (len ? len : 1)), demand,
		  (double)(cache_now_ns() - t0) / 1e6);
	if (rc < 0) {
		lazy_ctr.fetch_errors++;
		log_error("lazyfs.fetch_failed", "object=%s offset=%llu len=%u error=\"%s\"",
			  w->object, (unsigned long long)w->offset, len, err_msg(e));
		return -1;
	}
	lazy_ctr.bytes_fetched += len;
	if (!sha_matches(buf, len, w->sha256)) {
		lazy_ctr.fetch_errors++;
		log_error("lazyfs.fetch_corrupt",
			  "object=%s offset=%llu len=%u why=\"sha256 mismatch\"", w->object,
			  (unsigned long long)w->offset, len);
		return -1;
	}
	if (cache_store(f->cache, o, idx, buf, len, &e) < 0) {
		lazy_ctr.fetch_errors++;
		log_error("lazyfs.cache_write_failed", "object=%s error=\"%s\"", w->object,
			  err_msg(e));
		return -1;
	}
	if ((uint64_t)f->cache->bytes > f->cache->high)
		evict_kick(f->cache);
	return 0;
}

/* A window recovered from disk is used only once its bytes hash right. */
static bool verify_cached(struct cobj *o, size_t idx, const struct manifest_window *w, uint32_t len)
{
	_cleanup_free_ void *buf = xmalloc(len ? len : 1);
	return cache_pread(o, idx, 0, buf, len) == 0 && sha_matches(buf, len, w->sha256);
}

/* Marks the end of a fetch or check of window idx (o->mu held). */
static void settle(struct fetcher *f, struct cobj *o, size_t idx, bool ok, uint64_t tag,
		   uint32_t len)
{
	(void)f;
	struct cwin *cw = &o->w[idx];
	if (ok) {
		cw->state = CW_PRESENT;
		cw->tag = tag;
		cw->len = len;
		cw->atime_ns = cache_now_ns();
	} else {
		cw->state = CW_ABSENT;
	}
	pthread_cond_broadcast(&o->cv);
}

int fetch_demand(struct fetcher *f, struct cobj *o, const struct manifest *m,
		 const struct manifest_window *w, uint32_t len, bool *hit)
{
	size_t idx = w->offset / m->window_bytes;
	uint64_t tag = tag_of(w->sha256);
	bool waited = false;
	int rc = 0;
	pthread_mutex_lock(&o->mu);
	o->w[idx].users++;
	for (;;) {
		struct cwin *cw = &o->w[idx]; /* o->w moves when the object grows */
		if (cw->state == CW_BUSY) {
			if (!waited)
				lazy_ctr.fetch_waits++;
			waited = true;
			pthread_cond_wait(&o->cv, &o->mu);
			continue;
		}
		if (cw->state == CW_PRESENT && cw->tag == tag) {
			*hit = !waited;
			break;
		}
		if (cw->state == CW_PRESENT && cw->tag != 0) {
			log_error("lazyfs.window_conflict",
				  "object=%s offset=%llu why=\"cached bytes have another sha256\"",
				  w->object, (unsigned long long)w->offset);
			rc = -EIO;
			break;
		}
		if (cw->state == CW_PRESENT) {
			cw->state = CW_BUSY;
			pthread_mutex_unlock(&o->mu);
			bool ok = verify_cached(o, idx, w, len);
			pthread_mutex_lock(&o->mu);
			if (ok) {
				/* The length recovered from the file size, corrected. */
				f->cache->bytes += (uint64_t)len - o->w[idx].len;
				settle(f, o, idx, true, tag, len);
				*hit = !waited;
				break;
			}
			lazy_ctr.verify_failures++;
			log_warn("lazyfs.cache_bad_window", "object=%s offset=%llu", w->object,
				 (unsigned long long)w->offset);
			o->w[idx].state = CW_PRESENT;
			cache_drop(f->cache, o, idx, NULL);
			pthread_cond_broadcast(&o->cv);
			waited = false; /* fetch it ourselves now */
			continue;
		}
		if (waited) {
			rc = -EIO; /* the fetch we waited for failed: fail closed */
			break;
		}
		cw->state = CW_BUSY;
		pthread_mutex_unlock(&o->mu);
		int frc = fetch_one(f, o, idx, w, len, true);
		pthread_mutex_lock(&o->mu);
		settle(f, o, idx, frc == 0, tag, len);
		*hit = false;
		if (frc < 0)
			rc = -EIO;
		break;
	}
	if (rc < 0)
		o->w[idx].users--;
	pthread_mutex_unlock(&o->mu);
	return rc;
}

/* GETs windows first..first+n-1 of o (adjacent in the object, all held
 * CW_BUSY by the caller) with one ranged request; each is checked against
 * its own SHA-256 and stored on its own. ok[k] says which made it. */
static void fetch_run(struct fetcher *f, struct cobj *o, const struct manifest *m,
		      const struct manifest_file *mf, const size_t *file_idx, size_t n, bool *ok)
{
	const struct manifest_window *w0 = &mf->w[file_idx[0]];
	uint64_t total = 0;
	for (size_t k = 0; k < n; k++) {
		ok[k] = false;
		total += manifest_window_len(m, mf, file_idx[k]);
	}
	_cleanup_free_ uint8_t *buf = xmalloc(total ? total : 1);
	_cleanup_err_ struct thaw_err *e = NULL;
	if (!gate_enter(f, false))
		return;
	lazy_ctr.gets++;
	int64_t t0 = cache_now_ns();
	int rc = objstore_get_range(f->store, w0->object, w0->offset, total, buf, &e);
	gate_leave(f);
	log_debug("lazyfs.fetched", "object=%s window=%llu windows=%zu demand=0 get_ms=%.1f",
		  w0->object, (unsigned long long)(w0->offset / m->window_bytes), n,
		  (double)(cache_now_ns() - t0) / 1e6);
	if (rc < 0) {
		lazy_ctr.fetch_errors++;
		log_error("lazyfs.fetch_failed", "object=%s offset=%llu len=%llu error=\"%s\"",
			  w0->object, (unsigned long long)w0->offset, (unsigned long long)total,
			  err_msg(e));
		return;
	}
	lazy_ctr.bytes_fetched += total;
	uint64_t at = 0;
	for (size_t k = 0; k < n; k++) {
		const struct manifest_window *w = &mf->w[file_idx[k]];
		uint32_t len = (uint32_t)manifest_window_len(m, mf, file_idx[k]);
		size_t idx = w->offset / m->window_bytes;
		_cleanup_err_ struct thaw_err *se = NULL;
		if (!sha_matches(buf + at, len, w->sha256)) {
			lazy_ctr.fetch_errors++;
			log_error("lazyfs.fetch_corrupt",
				  "object=%s offset=%llu len=%u why=\"sha256 mismatch\"", w->object,
				  (unsigned long long)w->offset, len);
		} else if (cache_store(f->cache, o, idx, buf + at, len, &se) < 0) {
			lazy_ctr.fetch_errors++;
			log_error("lazyfs.cache_write_failed", "object=%s error=\"%s\"", w->object,
				  err_msg(se));
		} else {
			ok[k] = true;
		}
		at += len;
	}
	if ((uint64_t)f->cache->bytes > f->cache->high)
		evict_kick(f->cache);
}

/* Prefetches memory window i and the listed windows after it that sit
 * next to it in the same object and nobody has or fetches yet. */
static void prefetch_one(struct fetcher *f, struct prefetch_job *job, size_t i)
{
	struct artifact *a = job->a;
	const struct manifest_file *mf = &a->m.files[MANIFEST_MEMORY];
	const struct manifest_window *w = &mf->w[i];
	if (!w->object)
		return;
	struct cobj *o = a->objs[w->object_index];
	size_t run[PREFETCH_RUN_MAX];
	bool ok[PREFETCH_RUN_MAX];
	size_t n = 0;
	pthread_mutex_lock(&o->mu);
	for (size_t j = i; j < mf->nwindows && n < PREFETCH_RUN_MAX; j++) {
		const struct manifest_window *wj = &mf->w[j];
		if (j > i && (!job->listed[j] || wj->object != w->object ||
			      wj->offset != w->offset + (uint64_t)(j - i) * a->m.window_bytes))
			break;
		size_t idx = wj->offset / a->m.window_bytes;
		if (o->w[idx].state != CW_ABSENT)
			break;
		o->w[idx].state = CW_BUSY;
		o->w[idx].users++;
		run[n++] = j;
		/* Only a file's last window is short: nothing follows it. */
		if (manifest_window_len(&a->m, mf, j) < a->m.window_bytes)
			break;
	}
	pthread_mutex_unlock(&o->mu);
	if (!n)
		return;
	fetch_run(f, o, &a->m, mf, run, n, ok);
	pthread_mutex_lock(&o->mu);
	for (size_t k = 0; k < n; k++) {
		const struct manifest_window *wk = &mf->w[run[k]];
		size_t idx = wk->offset / a->m.window_bytes;
		settle(f, o, idx, ok[k], tag_of(wk->sha256),
		       (uint32_t)manifest_window_len(&a->m, mf, run[k]));
		o->w[idx].users--;
		if (ok[k])
			lazy_ctr.prefetched++;
	}
	pthread_mutex_unlock(&o->mu);
}

static void *prefetch_worker(void *arg)
{
	struct fetcher *f = arg;
	pthread_mutex_lock(&f->mu);
	for (;;) {
		while (!f->stopping && !f->jobs)
			pthread_cond_wait(&f->jobs_cv, &f->mu);
		if (f->stopping)
			break;
		struct prefetch_job *job = f->jobs;
		size_t n = job->a->m.files[MANIFEST_MEMORY].nprefetch;
		size_t i = job->a->m.files[MANIFEST_MEMORY].prefetch[job->next++];
		if (job->next >= n) {
			f->jobs = job->link;
			if (!f->jobs)
				f->jobs_tail = NULL;
		}
		job->inflight++;
		pthread_mutex_unlock(&f->mu);
		prefetch_one(f, job, i);
		pthread_mutex_lock(&f->mu);
		if (--job->inflight == 0 && job->next >= n) {
			pthread_mutex_unlock(&f->mu);
			ns_unref(f->ns, job->a);
			free(job->listed);
			free(job);
			pthread_mutex_lock(&f->mu);
		}
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

void fetch_prefetch(struct fetcher *f, struct artifact *a)
{
	if (!a->m.files[MANIFEST_MEMORY].nprefetch || !f->nworkers)
		return;
	struct prefetch_job *job = xcalloc(1, sizeof(*job));
	const struct manifest_file *mf = &a->m.files[MANIFEST_MEMORY];
	job->listed = xcalloc(mf->nwindows, sizeof(bool));
	for (size_t k = 0; k < mf->nprefetch; k++)
		job->listed[mf->prefetch[k]] = true;
	ns_ref(f->ns, a);
	job->a = a;
	pthread_mutex_lock(&f->mu);
	if (f->jobs_tail)
		f->jobs_tail->link = job;
	else
		f->jobs = job;
	f->jobs_tail = job;
	pthread_cond_broadcast(&f->jobs_cv);
	pthread_mutex_unlock(&f->mu);
}

int fetcher_start(struct fetcher *f, struct ns *ns, struct objstore *store, struct cache *cache,
		  unsigned max, struct thaw_err **err)
{
	f->ns = ns;
	f->store = store;
	f->cache = cache;
	f->max = max;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	pthread_cond_init(&f->jobs_cv, NULL);
	f->workers = xcalloc(max, sizeof(*f->workers));
	for (unsigned i = 0; i < max; i++) {
		int rc = pthread_create(&f->workers[i], NULL, prefetch_worker, f);
		if (rc) {
			errno = rc;
			return err_sys(err, "starting prefetch workers");
		}
		f->nworkers++;
	}
	return 0;
}

void fetcher_stop(struct fetcher *f)
{
	if (!f->workers)
		return;
	pthread_mutex_lock(&f->mu);
	f->stopping = true;
	pthread_cond_broadcast(&f->jobs_cv);
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	for (unsigned i = 0; i < f->nworkers; i++)
		pthread_join(f->workers[i], NULL);
	/* Jobs no worker finished: every worker is gone, nothing is in flight. */
	while (f->jobs) {
		struct prefetch_job *job = f->jobs;
		f->jobs = job->link;
		ns_unref(f->ns, job->a);
		free(job->listed);
		free(job);
	}
	free(f->workers);
	f->workers = NULL;
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	pthread_cond_destroy(&f->jobs_cv);
}
