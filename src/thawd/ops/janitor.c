#include "ops/janitor.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "core/launch.h"
#include "disk/disk.h"
#include "log.h"
#include "ops/ops.h"
#include "remote/remote.h"
#include "template/catalog.h"
#include "timeutil.h"
#include "vmm/cgroup.h"

#define TICK_MS 500

struct janitor {
	struct host *h;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	unsigned ticks;
	uint64_t next_gc_ns; /* CLOCK_MONOTONIC; 0: no collector */
};

/* The bucket's collector, every --s3-gc-interval (remote/gc.c). */
static void collect_bucket(struct janitor *j)
{
	uint32_t every = j->h->cfg->s3_gc_interval_s;
	if (!j->h->remote || !every || time_mono_ns() < j->next_gc_ns)
		return;
	j->next_gc_ns = time_mono_ns() + (uint64_t)every * 1000000000ull;
	struct remote_gc_result g;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (remote_gc(j->h, j->h->cfg->s3_gc_grace_s, false, &g, &err) < 0)
		log_warn("remote.gc_failed", "error=\"%s\"", err_msg(err));
}

/* Streamed templates that creates used get their sealed memory
 * (core/launch.h): their next VMMs share pages like a local template's. */
static void promote_streamed(struct host *h)
{
	struct template_info *items = NULL;
	size_t n = 0;
	if (catalog_list(h->catalog, &items, &n, NULL) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct template *t = NULL;
		if (strcmp(items[i].status, "ready") != 0 ||
		    catalog_get(h->catalog, items[i].name, &t, NULL) < 0)
			continue;
		_cleanup_err_ struct thaw_err *err = NULL;
		if (launch_promote_streamed(h, t, &err) < 0)
			log_warn("template.promote_failed", "template=%s error=\"%s\"", t->name,
				 err_msg(err));
		catalog_put(h->catalog, t);
	}
	free(items);
}

static void *janitor_main(void *arg)
{
	struct janitor *j = arg;
	pthread_mutex_lock(&j->lock);
	while (!j->stop) {
		struct timespec until = time_after_ms(CLOCK_MONOTONIC, TICK_MS);
		pthread_cond_timedwait(&j->cond, &j->lock, &until);
		if (j->stop)
			break;
		pthread_mutex_unlock(&j->lock);
		sandbox_expire(j->h, (int64_t)time(NULL));
		/* Groups of VMMs that died while nobody reaped them here (a
		 * restart adopted them) are empty now. */
		j->ticks++; /* every 20 ticks (10 s), a round of each chore below */
		if (j->h->remote && j->ticks % 20 == 5)
			promote_streamed(j->h);
		/* Templates other hosts published, uploads that failed. */
		if (j->h->remote && j->ticks % 20 == 10) {
			_cleanup_err_ struct thaw_err *err = NULL;
			if (remote_sync(j->h, &err) < 0)
				log_warn("remote.sync_failed", "error=\"%s\"", err_msg(err));
		}
		if (j->ticks % 20 == 15)
			collect_bucket(j);
		if (j->ticks % 4 == 2) /* 2 s */
			disk_store_trim_freed(j->h->store);
		if (j->h->vmm.cgroups && j->ticks % 20 == 0)
			cgroups_sweep(j->h->vmm.cgroups, CGROUP_SWEEP_STARTING_S, false);
		pthread_mutex_lock(&j->lock);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

int janitor_start(struct host *h, struct janitor **out, struct thaw_err **err)
{
	struct janitor *j = xcalloc(1, sizeof(*j));
	j->h = h;
	/* Hosts that share a bucket started together collect it at
	 * different times: the first run comes after half to one interval. */
	uint64_t every = (uint64_t)h->cfg->s3_gc_interval_s * 1000000000ull;
	uint64_t r = 0;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint64_t)getpid();
	j->next_gc_ns = time_mono_ns() + every / 2 + (every ? r % (every / 2 + 1) : 0);
	pthread_mutex_init(&j->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cond, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&j->thread, NULL, janitor_main, j);
	if (rc != 0) {
		free(j);
		errno = rc;
		return err_sys(err, "starting the timeout janitor");
	}
	*out = j;
	return 0;
}

void janitor_stop(struct janitor *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	j->stop = true;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
	pthread_join(j->thread, NULL);
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	free(j);
}
