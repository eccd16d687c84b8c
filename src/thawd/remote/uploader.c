/* Images go to the store in the background: a pause returns as soon as
 * its image is durable here, and the upload (hashing the memory, sending
 * what differs from the template) follows on this one thread, in order.
 * A failed upload is tried again with backoff; the image stays usable on
 * this host throughout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cleanup.h"
#include "core/host.h"
#include "core/images.h"
#include "fsutil.h"
#include "log.h"
#include "remote/remote.h"
#include "remote/remote_int.h"

#define ATTEMPTS 5
#define BACKOFF_FIRST_MS 1000
/* Manifests remembered as published (the oldest are forgotten first;
 * they stay in the store). */
#define REMEMBERED 4096

struct upload_job {
	char image[48];
	struct image_origin from;
	struct upload_job *next;
};

static void *uploader_main(void *arg)
{
	struct host *h = arg;
	struct remote *r = h->remote;
	pthread_mutex_lock(&r->up_lock);
	while (!r->up_stop) {
		struct upload_job *j = r->up_head;
		if (!j) {
			pthread_cond_wait(&r->up_cond, &r->up_lock);
			continue;
		}
		r->up_head = j->next;
		if (!r->up_head)
			r->up_tail = NULL;
		pthread_mutex_unlock(&r->up_lock);
		_cleanup_free_ char *dir = image_dir(h, j->image);
		bool done = false;
		unsigned delay = BACKOFF_FIRST_MS;
		for (int attempt = 1; attempt <= ATTEMPTS && !done && !r->up_stop; attempt++) {
			if (!fs_exists(dir))
				break; /* deleted meanwhile: nothing to keep */
			_cleanup_err_ struct thaw_err *err = NULL;
			if (remote_publish_image(h, dir, j->image, &j->from, &err) == 0) {
				done = true;
				break;
			}
			log_warn("remote.image_upload_failed", "image=%s attempt=%d error=\"%s\"",
				 j->image, attempt, err_msg(err));
			struct timespec ts = { delay / 1000, (long)(delay % 1000) * 1000000L };
			nanosleep(&ts, NULL);
			delay *= 2;
		}
		if (done) {
			_cleanup_free_ char *key = remote_image_key(j->image);
			remote_note_published(r, key);
		}
		pthread_mutex_lock(&r->up_lock);
		free(j);
	}
	pthread_mutex_unlock(&r->up_lock);
	return NULL;
}

int remote_uploader_start(struct host *h, struct thaw_err **err)
{
	struct remote *r = h->remote;
	pthread_mutex_init(&r->up_lock, NULL);
	pthread_cond_init(&r->up_cond, NULL);
	if (pthread_create(&r->up_thread, NULL, uploader_main, h) != 0)
		return err_set(err, ERR_INTERNAL, "starting the image uploader");
	r->up_started = true;
	return 0;
}

void remote_uploader_stop(struct remote *r)
{
	if (!r->up_started)
		return;
	pthread_mutex_lock(&r->up_lock);
	r->up_stop = true;
	pthread_cond_signal(&r->up_cond);
	pthread_mutex_unlock(&r->up_lock);
	pthread_join(r->up_thread, NULL);
	while (r->up_head) {
		struct upload_job *j = r->up_head;
		r->up_head = j->next;
		free(j);
	}
	free(r->posted);
	pthread_cond_destroy(&r->up_cond);
	pthread_mutex_destroy(&r->up_lock);
	r->up_started = false;
}

void remote_upload_image_later(struct host *h, const char *image_id,
			       const struct image_origin *from)
{
	struct remote *r = h->remote;
	if (!r)
		return;
	struct upload_job *j = xcalloc(1, sizeof(*j));
	snprintf(j->image, sizeof(j->image), "%s", image_id);
	j->from = *from;
	pthread_mutex_lock(&r->up_lock);
	if (r->up_tail)
		r->up_tail->next = j;
	else
		r->up_head = j;
	r->up_tail = j;
	pthread_cond_signal(&r->up_cond);
	pthread_mutex_unlock(&r->up_lock);
}

void remote_note_published(struct remote *r, const char *manifest_key)
{
	pthread_mutex_lock(&r->up_lock);
	bool found = false;
	for (size_t i = 0; i < r->nposted && !found; i++)
		found = strcmp(r->posted[i], manifest_key) == 0;
	if (!found) {
		if (r->nposted == REMEMBERED)
			memmove(r->posted, r->posted + 1, --r->nposted * sizeof(*r->posted));
		else
			r->posted = xrealloc(r->posted, (r->nposted + 1) * sizeof(*r->posted));
		snprintf(r->posted[r->nposted++], sizeof(*r->posted), "%s", manifest_key);
	}
	pthread_mutex_unlock(&r->up_lock);
}

bool remote_is_published(struct remote *r, const char *manifest_key)
{
	bool found = false;
	pthread_mutex_lock(&r->up_lock);
	for (size_t i = 0; i < r->nposted && !found; i++)
		found = strcmp(r->posted[i], manifest_key) == 0;
	pthread_mutex_unlock(&r->up_lock);
	return found;
}

bool remote_image_published(struct host *h, const char *image_id)
{
	if (!h->remote)
		return false;
	_cleanup_free_ char *key = remote_image_key(image_id);
	return remote_is_published(h->remote, key);
}
