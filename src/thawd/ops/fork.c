/* Fork: N children that start as copies of a running parent at one
 * instant. The parent is stopped only while core/capture.c writes its
 * device state, the memory pages it wrote and a reflink of its disk into
 * an image; it runs on, and the children are restored from that image
 * in parallel, like creates (fresh clock, entropy and hostname each).
 * They map the image's memory file privately, so they share its page
 * cache with each other and diverge from there page by page. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "core/capture.h"
#include "core/images.h"
#include "core/launch.h"
#include "core/quota.h"
#include "core/stats.h"
#include "failpoint.h"
#include "log.h"
#include "ops/ops.h"
#include "timeutil.h"

struct child_job {
	struct host *h;
	struct sandbox *sb; /* the child; NULL once a failed start freed it */
	const struct template *image;
	struct thaw_err *err;
	pthread_t thread;
	char req_id[LOG_REQID_SIZE]; /* the fork's request: its children's lines carry it */
};

static void *child_main(void *arg)
{
	struct child_job *j = arg;
	log_set_request_id(j->req_id);
	struct vm_clock clk = { .t0 = time_mono_ns() };
	clk.template = clk.t0;
	struct vm_start vs = { .from = j->image, .use_pools = true, .failpoint = "fork.child" };
	if (sandbox_start_new(j->h, j->sb, &vs, &clk, &j->err) < 0)
		j->sb = NULL;
	return NULL;
}

/* A child as its parent was: its template build, metadata, timeouts,
 * limits, environment and network policy; its memory from the image; the forking key's. */
static struct sandbox *child_of(struct host *h, const struct sandbox *parent, const char *image,
				const char *owner)
{
	char id[SANDBOX_ID_LEN + 1];
	id_new_sandbox(id);
	struct sandbox *sb = sandbox_new(h, id);
	memcpy(sb->template_name, parent->template_name, sizeof(sb->template_name));
	memcpy(sb->build_id, parent->build_id, sizeof(sb->build_id));
	snprintf(sb->image, sizeof(sb->image), "%s", image);
	snprintf(sb->parent, sizeof(sb->parent), "%s", parent->id);
	snprintf(sb->owner, sizeof(sb->owner), "%s", owner);
	sb->created_at = (int64_t)(time_real_ns() / 1000000000ull);
	sb->timeout_s = parent->timeout_s;
	sb->timeout_at = deadline_after(parent->timeout_s);
	sb->timeout_pauses = parent->timeout_pauses;
	sb->auto_resume = parent->auto_resume;
	sb->cpu_millis = parent->cpu_millis;
	sb->metadata = xstrdup(parent->metadata);
	sb->env = parent->env ? xstrdup(parent->env) : NULL;
	sb->netpolicy = sandbox_netpolicy((struct sandbox *)parent); /* takes its lock only */
	sb->state = SB_CREATING;
	return sb;
}

/* Stops, captures and lets the parent run on; publishes the image. The
 * parent runs on whatever happens: a fork never costs it more than the
 * stop. */
static int capture_parent(struct host *h, struct sandbox *parent, char image[48],
			  struct fork_result *out, struct thaw_err **err)
{
	uint64_t t0 = time_mono_ns();
	struct capture_times t;
	if (capture_image(h, parent, SOURCE_FORK, true, false, image, &t, err) < 0)
		return -1;
	out->stopped_ms = t.stopped_ms;
	out->capture_ms = ns_to_ms(time_mono_ns() - t0);
	return 0;
}

/* The children, restored from the image in parallel. Each had its place
 * reserved by the fork; one that fails gives it back. */
static int create_children(struct host *h, const struct sandbox *parent, const char *image,
			   size_t count, const struct sb_owner *owner, struct fork_result *out,
			   struct thaw_err **err)
{
	struct template *img = NULL;
	if (image_load(h, image, &img, err) < 0) {
		quota_release(h->quota, owner->name, (unsigned)count, (unsigned)count);
		return -1;
	}
	struct child_job *jobs = xcalloc(count, sizeof(*jobs));
	for (size_t i = 0; i < count; i++) {
		jobs[i] = (struct child_job){ .h = h, .image = img };
		jobs[i].sb = child_of(h, parent, image, owner->name);
		log_request_id_copy(jobs[i].req_id);
		if (pthread_create(&jobs[i].thread, NULL, child_main, &jobs[i]) != 0)
			child_main(&jobs[i]);
	}
	int rc = 0;
	out->children = xcalloc(count, sizeof(*out->children));
	for (size_t i = 0; i < count; i++) {
		if (jobs[i].thread)
			pthread_join(jobs[i].thread, NULL);
		if (jobs[i].sb)
			out->children[out->count++] = jobs[i].sb;
		else if (rc == 0 && err && !*err) {
			*err = jobs[i].err;
			jobs[i].err = NULL;
			rc = -1;
		} else {
			rc = -1;
		}
		err_free(jobs[i].err);
	}
	free(jobs);
	build_free(img);
	return rc;
}

int sandbox_fork(struct host *h, const char *id, size_t count, const struct sb_owner *owner,
		 struct fork_result *out, struct thaw_err **err)
{
	STATS_TIME_OP("fork", err);
	memset(out, 0, sizeof(*out));
	struct sandbox *parent;
	if (sandbox_lock_running(h, id, &parent, err) < 0)
		return -1;
	/* All count places at once, before the parent is stopped: each child
	 * keeps its place or gives it back (sandbox_start_new). */
	if (quota_reserve(h->quota, owner->name, owner->max_sandboxes, (unsigned)count,
			  (unsigned)count, err) < 0) {
		sandbox_unlock(h, parent);
		return err_wrap(err, "forking sandbox %s", id);
	}
	char image[48];
	int rc = capture_parent(h, parent, image, out, err);
	if (rc == 0)
		failpoint("fork.captured", parent->vmm);
	if (rc < 0)
		quota_release(h->quota, owner->name, (unsigned)count, (unsigned)count);
	/* The children need nothing of the parent but what it was: it may be
	 * paused or deleted from here on. Our reference keeps its slot. */
	sandbox_ref(h, parent);
	sandbox_unlock(h, parent);
	if (rc == 0)
		rc = create_children(h, parent, image, count, owner, out, err);
	/* Each child its own secrets (a fresh database password): the
	 * parent's would open every child. */
	for (size_t i = 0; rc == 0 && i < out->count; i++)
		rc = sandbox_clone_hook(h, out->children[i], NULL, err);
	if (rc < 0) {
		for (size_t i = 0; i < out->count; i++)
			sandbox_delete(h, out->children[i]->id, NULL);
		fork_result_free(h, out);
		out->count = 0;
	}
	image_unpin(h, image); /* the children's rows name it, or nothing will */
	/* The parent's clock stood still while it was stopped. */
	_cleanup_err_ struct thaw_err *perr = NULL;
	if (launch_probe(parent->slot, parent->vmm, parent->id, &perr) < 0)
		log_warn("sandbox.fork", "id=%s clock_error=\"%s\"", id, err_msg(perr));
	sandbox_unref(h, parent);
	if (rc < 0) {
		images_gc(h);
		return err_wrap(err, "forking sandbox %s", id);
	}
	log_info("sandbox.forked", "id=%s image=%s count=%zu stopped_ms=%.1f", id, image, count,
		 out->stopped_ms);
	return 0;
}

void fork_result_free(struct host *h, struct fork_result *r)
{
	for (size_t i = 0; i < r->count; i++)
		sandbox_unref(h, r->children[i]);
	free(r->children);
	r->children = NULL;
}
