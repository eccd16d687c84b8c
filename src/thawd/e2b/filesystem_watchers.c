/* filesystem.Filesystem's polled watchers, which the Python sync SDK
 * uses in place of the WatchDir stream:
 *
 *   CreateWatcher {path, recursive}   -> {watcherId}   (watching once it answers)
 *   GetWatcherEvents {watcherId}      -> {events: [{name, type}]}  (since the last poll)
 *   RemoveWatcher {watcherId}         -> {}
 *
 * A watcher is a host-side entry in a bounded table (WATCHERS_MAX over
 * all sandboxes) with a thread running thaw's watch (ops/filewatch.c)
 * and a bounded queue of events (past WATCHER_EVENTS_MAX the newest are
 * dropped). One that nobody polls for WATCHER_IDLE_S is dropped: the SDK
 * may die without removing it. A watcher answers only to calls with its
 * sandbox's token. The table does not survive a thawd restart. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "api/stream.h"
#include "cleanup.h"
#include "e2b/files.h"
#include "proto.h"
#include "timeutil.h"

#define WATCHERS_MAX 64
#define WATCHER_EVENTS_MAX 10000
#define WATCHER_IDLE_S 60
#define WATCHER_START_MS 15000
#define WATCHER_ID_LEN 32

struct watcher {
	char wid[WATCHER_ID_LEN + 1];
	char sb[SANDBOX_ID_LEN + 1];
	char path[FILE_PATH_MAX + 1];
	bool recursive;
	struct host *h;
	bool cancel; /* set under the lock; the watch polls it */
	/* under the lock: */
	bool ready, ended;
	struct thaw_err *err; /* how the watch failed, if it did */
	json_t *events;	      /* FilesystemEvents since the last poll */
	uint64_t polled_ns;   /* monotonic */
	int refs;	      /* the table's and the thread's */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static struct watcher *table[WATCHERS_MAX];

/* Under the lock. */
static void watcher_unref(struct watcher *w)
{
	if (--w->refs > 0)
		return;
	json_decref(w->events);
	err_free(w->err);
	free(w);
}

/* Under the lock: out of the table, its watch told to stop. */
static void watcher_drop(size_t i)
{
	struct watcher *w = table[i];
	table[i] = NULL;
	w->cancel = true;
	watcher_unref(w);
}

/* Under the lock: drops the watchers nobody polled for a while. */
static void sweep(void)
{
	uint64_t now = time_mono_ns();
	for (size_t i = 0; i < WATCHERS_MAX; i++)
		if (table[i] && now - table[i]->polled_ns > WATCHER_IDLE_S * 1000000000ull)
			watcher_drop(i);
}

static void on_event(const char *type, const char *path, const char *from, void *ud)
{
	struct watcher *w = ud;
	json_t *ev[2];
	size_t n = strcmp(type, "ready") == 0 ? 0 : e2b_watch_events(w->path, type, path, from, ev);
	pthread_mutex_lock(&lock);
	if (strcmp(type, "ready") == 0) {
		w->ready = true;
		pthread_cond_broadcast(&changed);
	}
	for (size_t i = 0; i < n; i++) {
		if (json_array_size(w->events) < WATCHER_EVENTS_MAX)
			json_array_append(w->events, ev[i]);
		json_decref(ev[i]);
	}
	pthread_mutex_unlock(&lock);
}

static void *watcher_thread(void *arg)
{
	struct watcher *w = arg;
	struct thaw_err *err = NULL;
	int rc = sandbox_file_watch(w->h, w->sb, w->path, w->recursive, false, on_event, w,
				    &w->cancel, &err);
	pthread_mutex_lock(&lock);
	w->ended = true;
	if (rc < 0 && !w->cancel)
		w->err = steal_pointer(&err);
	pthread_cond_broadcast(&changed);
	watcher_unref(w);
	pthread_mutex_unlock(&lock);
	err_free(err);
	return NULL;
}

/* Under the lock: the slot of the watcher wid of sandbox sb, or -1. */
static int find(const char *wid, const char *sb)
{
	for (int i = 0; i < WATCHERS_MAX; i++)
		if (table[i] && strcmp(table[i]->wid, wid) == 0 && strcmp(table[i]->sb, sb) == 0)
			return i;
	return -1;
}

static void new_id(char out[WATCHER_ID_LEN + 1])
{
	unsigned char b[WATCHER_ID_LEN / 2];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		memset(b, 0, sizeof(b)); /* never short for 16 bytes; a clash then only fails */
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Under the lock: listed and started, or an error (the table is full). */
static int watcher_start(struct watcher *w, int *slot, struct thaw_err **err)
{
	sweep();
	int i = 0;
	while (i < WATCHERS_MAX && table[i])
		i++;
	if (i == WATCHERS_MAX)
		return err_set(err, ERR_LIMIT, "this host has %d watchers: remove one first",
			       WATCHERS_MAX);
	w->refs = 2;
	table[i] = w;
	if (api_thread_detached(watcher_thread, w) < 0) {
		table[i] = NULL; /* the caller frees w */
		return err_set(err, ERR_INTERNAL, "no thread for the watcher");
	}
	*slot = i;
	return 0;
}

/* Under the lock: until the watch is on (or failed, or too slow). */
static int watcher_wait_ready(struct watcher *w, int slot, struct thaw_err **err)
{
	struct timespec until = time_after_ms(CLOCK_REALTIME, WATCHER_START_MS);
	while (!w->ready && !w->ended)
		if (pthread_cond_timedwait(&changed, &lock, &until) != 0)
			break;
	if (w->ready && !w->ended)
		return 0;
	int rc = w->err ? err_set(err, w->err->code, "%s", err_msg(w->err))
		 : w->ended ? err_set(err, ERR_NOT_FOUND, "the watched directory went away")
			    : err_set(err, ERR_TIMEOUT, "the watch did not start in %d s",
				      WATCHER_START_MS / 1000);
	watcher_drop((size_t)slot);
	return rc;
}

enum MHD_Result e2b_fs_create_watcher(struct api_req *r)
{
	enum MHD_Result res;
	struct e2b_fs_call c;
	if (!e2b_fs_begin(r, &c, &res))
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	struct watcher *w = xcalloc(1, sizeof(*w));
	struct file_info fi;
	int rc = e2b_watch_request(c.msg, c.user.home, w->path, &w->recursive, &err);
	json_decref(c.msg);
	if (rc == 0 && (rc = sandbox_file_stat(r->app, c.id, w->path, false, &fi, &err)) == 0) {
		if (fi.type != FTYPE_DIR)
			rc = err_set(&err, ERR_INVALID, "only a directory can be watched");
		file_info_free(&fi);
	}
	if (rc < 0) {
		free(w);
		return connect_reply_error(r, err);
	}
	new_id(w->wid);
	snprintf(w->sb, sizeof(w->sb), "%s", c.id);
	w->h = r->app;
	w->events = json_array();
	w->polled_ns = time_mono_ns();
	char wid[WATCHER_ID_LEN + 1];
	memcpy(wid, w->wid, sizeof(wid));
	int slot = -1;
	pthread_mutex_lock(&lock);
	if (watcher_start(w, &slot, &err) < 0) {
		json_decref(w->events);
		free(w);
	} else {
		rc = watcher_wait_ready(w, slot, &err);
	}
	pthread_mutex_unlock(&lock);
	if (err)
		return connect_reply_error(r, err);
	return connect_reply(r, json_pack("{s:s}", "watcherId", wid));
}

/* The watcherId of a poll or a remove (the only field). */
static int watcher_id(json_t *msg, char out[WATCHER_ID_LEN + 1], struct thaw_err **err)
{
	json_t *v = json_object_get(msg, "watcherId");
	if (json_object_size(msg) != 1 || !json_is_string(v))
		return err_set(err, ERR_INVALID, "the request takes one field, watcherId (a string)");
	if (json_string_length(v) != WATCHER_ID_LEN)
		return err_set(err, ERR_NOT_FOUND, "no such watcher");
	memcpy(out, json_string_value(v), WATCHER_ID_LEN + 1);
	return 0;
}

enum MHD_Result e2b_fs_get_watcher_events(struct api_req *r)
{
	enum MHD_Result res;
	struct e2b_fs_call c;
	if (!e2b_fs_begin(r, &c, &res))
		return res;
	char wid[WATCHER_ID_LEN + 1];
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = watcher_id(c.msg, wid, &err);
	json_decref(c.msg);
	if (rc < 0)
		return connect_reply_error(r, err);
	json_t *events = NULL;
	pthread_mutex_lock(&lock);
	sweep();
	int i = find(wid, c.id);
	if (i < 0) {
		err_set(&err, ERR_NOT_FOUND, "no watcher %s (removed, or not polled for %d s)", wid,
			WATCHER_IDLE_S);
	} else if (json_array_size(table[i]->events) == 0 && table[i]->ended) {
		/* its end, told once */
		if (table[i]->err)
			err_set(&err, table[i]->err->code, "%s", err_msg(table[i]->err));
		else
			err_set(&err, ERR_NOT_FOUND, "the watched directory went away");
		watcher_drop((size_t)i);
	} else {
		events = table[i]->events;
		table[i]->events = json_array();
		table[i]->polled_ns = time_mono_ns();
	}
	pthread_mutex_unlock(&lock);
	if (err)
		return connect_reply_error(r, err);
	return connect_reply(r, json_pack("{s:o}", "events", events));
}

enum MHD_Result e2b_fs_remove_watcher(struct api_req *r)
{
	enum MHD_Result res;
	struct e2b_fs_call c;
	if (!e2b_fs_begin(r, &c, &res))
		return res;
	char wid[WATCHER_ID_LEN + 1];
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = watcher_id(c.msg, wid, &err);
	json_decref(c.msg);
	if (rc < 0)
		return connect_reply_error(r, err);
	pthread_mutex_lock(&lock);
	int i = find(wid, c.id);
	if (i >= 0)
		watcher_drop((size_t)i);
	pthread_mutex_unlock(&lock);
	if (i < 0)
		return connect_reply_error(
			r, &(struct thaw_err){ .code = ERR_NOT_FOUND, .msg = "no such watcher" });
	return connect_reply(r, json_object());
}
