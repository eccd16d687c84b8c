/* filesystem.Filesystem/WatchDir {path, recursive}: a server stream
 *
 *   {"start":{}}                                    watching (the SDK waits for it)
 *   {"filesystem":{"name":"a","type":"EVENT_TYPE_CREATE"}}
 *   {"keepalive":{}}                                every Keepalive-Ping-Interval s
 *
 * (WatchDirResponse's oneof "event" holds these directly, so in
 * protobuf JSON they are top-level fields, unlike ProcessEvent's.)
 * on thaw's watch (inotify in the guest, ops/filewatch.c). Names are
 * relative to the watched directory, as envd's. A rename is RENAME of the
 * old name then CREATE of the new one (what envd's fsnotify reports);
 * thaw's own whole-file write (a temp file renamed over the target) is
 * CREATE and WRITE of the target, its temp file unseen. The
 * stream ends when the client leaves (the guest's watch with it), or
 * when the directory goes away.
 *
 * includeEntry and allowNetworkMounts are refused (envd 0.6.3 and 0.6.4;
 * thaw declares E2B_ENVD_VERSION). The polled watchers are in
 * filesystem_watchers.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/stream.h"
#include "cleanup.h"
#include "e2b/files.h"
#include "log.h"
#include "proto.h"

#define KEEPALIVE_DEFAULT_S 50
#define KEEPALIVE_MAX_S 3600

struct watch_job {
	struct api_stream *stream;
	struct host *h;
	char id[SANDBOX_ID_LEN + 1];
	char path[FILE_PATH_MAX + 1];
	bool recursive;
	unsigned keepalive_s;
	/* shared by the watch and keepalive threads (__atomic) */
	bool done;    /* the watch returned: the keepalive thread stops */
	bool started; /* the start event went: keepalives may follow it */
	char req_id[LOG_REQID_SIZE]; /* the request's, for the keepalive thread's lines */
};

static void on_event(const char *type, const char *path, const char *from, void *ud)
{
	struct watch_job *j = ud;
	if (strcmp(type, "ready") == 0) {
		connect_stream_send(j->stream, json_pack("{s:{}}", "start"));
		__atomic_store_n(&j->started, true, __ATOMIC_RELEASE);
		return;
	}
	json_t *ev[2];
	size_t n = e2b_watch_events(j->path, type, path, from, ev);
	for (size_t i = 0; i < n; i++)
		connect_stream_send(j->stream, json_pack("{s:o}", "filesystem", ev[i]));
}

static void *keepalive_thread(void *arg)
{
	struct watch_job *j = arg;
	log_set_request_id(j->req_id);
	const bool *cancel = api_stream_cancel_flag(j->stream);
	unsigned ticks = 0;
	while (!__atomic_load_n(&j->done, __ATOMIC_ACQUIRE) && !*cancel) {
		nanosleep(&(struct timespec){ .tv_nsec = 200000000L }, NULL);
		if (__atomic_load_n(&j->started, __ATOMIC_ACQUIRE) && ++ticks >= j->keepalive_s * 5) {
			ticks = 0;
			connect_stream_send(j->stream, json_pack("{s:{}}", "keepalive"));
		}
	}
	return NULL;
}

static void *watch_thread(void *arg)
{
	struct watch_job *j = arg;
	_cleanup_err_ struct thaw_err *err = NULL;
	const bool *cancel = api_stream_cancel_flag(j->stream);
	pthread_t ka;
	log_request_id_copy(j->req_id);
	bool ka_started = pthread_create(&ka, NULL, keepalive_thread, j) == 0;
	int rc = sandbox_file_watch(j->h, j->id, j->path, j->recursive, false, on_event, j, cancel,
				    &err);
	__atomic_store_n(&j->done, true, __ATOMIC_RELEASE);
	if (ka_started)
		pthread_join(ka, NULL);
	connect_stream_end(j->stream, rc < 0 && !*cancel ? err : NULL);
	api_stream_unref(j->stream);
	free(j);
	return NULL;
}

int e2b_watch_request(json_t *msg, const char *home, char path[FILE_PATH_MAX + 1],
		      bool *recursive, struct thaw_err **err)
{
	path[0] = '\0';
	*recursive = false;
	const char *k;
	json_t *v;
	json_object_foreach(msg, k, v) {
		if (strcmp(k, "path") == 0) {
			if (!json_is_string(v))
				return err_set(err, ERR_INVALID, "path must be a string");
			if (e2b_path_resolve(json_string_value(v), json_string_length(v), home,
					     path, err) < 0)
				return -1;
		} else if (strcmp(k, "recursive") == 0) {
			if (!json_is_boolean(v))
				return err_set(err, ERR_INVALID, "recursive must be true or false");
			*recursive = json_is_true(v);
		} else if (strcmp(k, "includeEntry") == 0 || strcmp(k, "allowNetworkMounts") == 0) {
			if (json_is_true(v))
				return err_set(err, ERR_INVALID,
					       "%s needs envd 0.6.3 or later; thaw speaks envd %s", k,
					       E2B_ENVD_VERSION);
		} else {
			return err_set(err, ERR_INVALID, "unknown field %.64s", k);
		}
	}
	if (!path[0])
		return err_set(err, ERR_INVALID, "path is required");
	return 0;
}

static unsigned keepalive_interval(struct api_req *r)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						    "Keepalive-Ping-Interval");
	char *end;
	long s = v ? strtol(v, &end, 10) : 0;
	if (!v || !v[0] || *end || s < 1 || s > KEEPALIVE_MAX_S)
		return KEEPALIVE_DEFAULT_S;
	return (unsigned)s;
}

/* Refuses before the watch starts: a stream that ends with the error
 * (a non-200 answer would reach the SDK as a code from the status). */
static enum MHD_Result watch_refuse(struct api_req *r, const struct thaw_err *e)
{
	struct api_stream *s = api_stream_new();
	enum MHD_Result ret = connect_stream_reply(r, s);
	connect_stream_end(s, e);
	api_stream_unref(s);
	return ret;
}

enum MHD_Result e2b_fs_watch_dir(struct api_req *r)
{
	enum MHD_Result res;
	char id[SANDBOX_ID_LEN + 1], user[E2B_USER_MAX + 1], home[E2B_USER_MAX + 8];
	if (!e2b_sandbox_of(r, E2B_ENVD_PORT, id, &res))
		return res;
	json_t *msg = connect_stream_request(r, &res);
	if (!msg)
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	struct watch_job *j = xcalloc(1, sizeof(*j));
	const char *auth =
		MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	int rc = e2b_user_from_auth(auth, user, &err);
	if (rc == 0) {
		e2b_user_home(user, home);
		rc = e2b_watch_request(msg, home, j->path, &j->recursive, &err);
	}
	json_decref(msg);
	struct file_info fi;
	if (rc == 0 && sandbox_file_stat(r->app, id, j->path, false, &fi, &err) == 0) {
		if (fi.type != FTYPE_DIR)
			rc = err_set(&err, ERR_INVALID, "only a directory can be watched");
		file_info_free(&fi);
	} else {
		rc = -1;
	}
	if (rc < 0) {
		free(j);
		return watch_refuse(r, err);
	}
	j->stream = api_stream_new();
	j->h = r->app;
	j->keepalive_s = keepalive_interval(r);
	snprintf(j->id, sizeof(j->id), "%s", id);
	enum MHD_Result ret = connect_stream_reply(r, j->stream);
	if (api_thread_detached(watch_thread, j) < 0) {
		connect_stream_end(j->stream, &(struct thaw_err){ .code = ERR_INTERNAL,
								  .msg = "no thread for the watch" });
		api_stream_unref(j->stream);
		free(j);
	}
	return ret;
}
