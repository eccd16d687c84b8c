/* Durability of the chunk cache, off the fetch path. A fetched window is
 * written to its object's cache file and served at once (from the page
 * cache); this thread then syncs the file and only after that sets the
 * window's bit in the bitmap and syncs it. One round takes every window
 * written so far: one fdatasync of data and one of the bitmap per
 * object, however many windows it covers.
 *
 * A window written while its file is being synced stays CW_WRITTEN for
 * the next round (the round took only what was CW_SYNCING before its
 * fdatasync began); a window dropped meanwhile is CW_CLEAN and is not
 * marked. */
#include "lazyfs.h"

#include <errno.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"

/* Writes the bitmap bytes of every window marked in this round; *again:
 * a window synced before its fetch settled waits for the next round. */
static int mark_synced(struct cobj *o, bool *again, struct thaw_err **err)
{
	bool any = false;
	for (size_t i = 0; i < o->nwin; i++) {
		struct cwin *w = &o->w[i];
		if (w->dirty != CW_SYNCING)
			continue;
		if (w->state == CW_BUSY) {
			w->dirty = CW_WRITTEN; /* its fetch has not settled yet */
			*again = true;
			continue;
		}
		w->dirty = CW_CLEAN;
		if (w->state != CW_PRESENT)
			continue; /* dropped */
		w->ondisk = true;
		any = true;
	}
	if (!any)
		return 0;
	for (size_t i = 0; i < o->nwin; i += 8) {
		uint8_t byte = 0;
		for (size_t k = i; k < i + 8 && k < o->nwin; k++)
			if (o->w[k].ondisk)
				byte |= (uint8_t)(1u << (k % 8));
		if (fs_pwrite_all(o->bm_fd, &byte, 1, (off_t)(BM_HEADER + i / 8), err) < 0)
			return -1;
	}
	if (fdatasync(o->bm_fd) < 0)
		return err_sys(err, "syncing the bitmap of %s", o->hash);
	return 0;
}

static void flush_object(struct cobj *o, bool *again)
{
	bool any = false;
	pthread_mutex_lock(&o->mu);
	for (size_t i = 0; i < o->nwin; i++)
		if (o->w[i].dirty == CW_WRITTEN) {
			o->w[i].dirty = CW_SYNCING;
			any = true;
		}
	pthread_mutex_unlock(&o->mu);
	if (!any)
		return;
	struct thaw_err *e = NULL;
	int rc = fdatasync(o->data_fd) < 0 ? err_sys(&e, "syncing the data of %s", o->hash) : 0;
	pthread_mutex_lock(&o->mu);
	if (rc == 0)
		rc = mark_synced(o, again, &e);
	if (rc < 0) /* tried again next round */
		for (size_t i = 0; i < o->nwin; i++)
			if (o->w[i].dirty == CW_SYNCING)
				o->w[i].dirty = CW_WRITTEN;
	pthread_mutex_unlock(&o->mu);
	if (rc < 0)
		log_error("lazyfs.flush_failed", "object=%s error=\"%s\"", o->hash, err_msg(e));
	err_free(e);
}

static void flush_round(struct cache *c)
{
	pthread_mutex_lock(&c->mu);
	struct cobj *head = c->objs; /* cobjs are never freed while we run */
	pthread_mutex_unlock(&c->mu);
	bool again = false;
	for (struct cobj *o = head; o; o = o->next)
		flush_object(o, &again);
	if (again) {
		usleep(2000); /* the fetch settles right after its write */
		flush_kick(c);
	}
}

static void *flusher(void *arg)
{
	struct cache *c = arg;
	pthread_mutex_lock(&c->flush_mu);
	for (;;) {
		while (!c->flush_stopping && !c->flush_wanted)
			pthread_cond_wait(&c->flush_cv, &c->flush_mu);
		bool last = c->flush_stopping;
		c->flush_wanted = false;
		pthread_mutex_unlock(&c->flush_mu);
		flush_round(c);
		pthread_mutex_lock(&c->flush_mu);
		if (last)
			break;
	}
	pthread_mutex_unlock(&c->flush_mu);
	return NULL;
}

int flush_start(struct cache *c, struct thaw_err **err)
{
	int rc = pthread_create(&c->flusher, NULL, flusher, c);
	if (rc) {
		errno = rc;
		return err_sys(err, "starting the flusher");
	}
	c->flusher_started = true;
	return 0;
}

void flush_kick(struct cache *c)
{
	pthread_mutex_lock(&c->flush_mu);
	c->flush_wanted = true;
	pthread_cond_signal(&c->flush_cv);
	pthread_mutex_unlock(&c->flush_mu);
}

void flush_stop(struct cache *c)
{
	if (!c->flusher_started) {
		flush_round(c); /* windows written before it started, if any */
		return;
	}
	pthread_mutex_lock(&c->flush_mu);
	c->flush_stopping = true;
	pthread_cond_signal(&c->flush_cv);
	pthread_mutex_unlock(&c->flush_mu);
	pthread_join(c->flusher, NULL);
	c->flusher_started = false;
}
