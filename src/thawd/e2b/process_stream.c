/* process.Process's server streams: Start runs a command, Connect
 * follows one of the table (from now on). Both answer ProcessEvents:
 * start {pid}, data {stdout|stderr|pty}, keepalive, end {exitCode, ...},
 * then the end-of-stream envelope.
 *
 * A command outlives its stream, as in E2B: a client that goes away, or
 * whose Connect-Timeout-Ms passes, ends the stream (the latter with
 * deadline_exceeded) and the command runs on in the guest's table,
 * where Connect, SendSignal and List find it. Errors go in the
 * end-of-stream envelope after a 200: connect-web reads a non-200
 * status of a stream as an HTTP failure, not as the Connect code.
 *
 * Threads: a worker runs the exec (blocked in the guest agent's
 * protocol); a ticker beside it sends keepalives at the client's
 * Keepalive-Ping-Interval and turns a gone client or a passed deadline
 * into the exec's cancel flag. The worker owns the job and joins the
 * ticker before it frees it. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/stream.h"
#include "e2b/process.h"
#include "log.h"
#include "ops/ops.h"
#include "timeutil.h"

/* How often the ticker looks at the client and the deadline. */
#define TICK_MS 200

struct pstream {
	struct api_stream *stream;
	struct host *h;
	char id[SANDBOX_ID_LEN + 1];
	struct exec_params p; /* Start: the command (owned); Connect: zero */
	uint32_t attach_pid;  /* Connect: the process followed */
	bool pty;	      /* its output is a terminal's */
	unsigned keepalive_s; /* 0: none */
	uint64_t deadline_ns; /* monotonic; 0: none */
	bool cancel;	      /* the exec's flag (atomic) */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started, done, deadline_hit; /* under lock */
	char req_id[LOG_REQID_SIZE];	  /* the request's, for the ticker's lines */
};

static void pstream_free(struct pstream *j)
{
	api_stream_unref(j->stream);
	exec_params_free(&j->p);
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

static void on_start(uint32_t pid, void *ud)
{
	struct pstream *j = ud;
	connect_stream_send(j->stream, e2b_event_start(pid));
	/* Keepalives only after it: the SDK wants start first. */
	pthread_mutex_lock(&j->lock);
	j->started = true;
	pthread_mutex_unlock(&j->lock);
}

static void on_output(int stream, const uint8_t *data, size_t len, void *ud)
{
	struct pstream *j = ud;
	const char *kind = j->pty ? "pty" : stream == 2 ? "stderr" : "stdout";
	connect_stream_send(j->stream, e2b_event_data(kind, data, len));
}

static void *pstream_tick(void *arg)
{
	struct pstream *j = arg;
	log_set_request_id(j->req_id);
	const bool *gone = api_stream_cancel_flag(j->stream);
	uint64_t next_ka = j->keepalive_s ? time_mono_ns() + j->keepalive_s * 1000000000ull : 0;
	pthread_mutex_lock(&j->lock);
	while (!j->done) {
		struct timespec ts = time_after_ms(CLOCK_REALTIME, TICK_MS);
		pthread_cond_timedwait(&j->cond, &j->lock, &ts);
		if (j->done)
			break;
		uint64_t now = time_mono_ns();
		bool stop = __atomic_load_n(gone, __ATOMIC_ACQUIRE);
		if (j->deadline_ns && now >= j->deadline_ns && !j->deadline_hit)
			stop = j->deadline_hit = true;
		if (stop)
			__atomic_store_n(&j->cancel, true, __ATOMIC_RELEASE);
		if (next_ka && now >= next_ka && j->started && !stop) {
			next_ka = now + j->keepalive_s * 1000000000ull;
			pthread_mutex_unlock(&j->lock);
			connect_stream_send(j->stream, e2b_event_keepalive());
			pthread_mutex_lock(&j->lock);
		}
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* The end of the stream: the end event, or why there is none. */
static void pstream_finish(struct pstream *j, int rc, struct agent_exec_result *res,
			   struct thaw_err *err)
{
	if (rc == 0) {
		connect_stream_send(j->stream, e2b_event_end(res->exit_code, res->signal));
		agent_exec_result_free(res);
		connect_stream_end(j->stream, NULL);
		return;
	}
	if (j->deadline_hit) {
		_cleanup_err_ struct thaw_err *late = NULL;
		err_set(&late, ERR_TIMEOUT,
			"Connect-Timeout-Ms passed: the stream ends, the process runs on");
		connect_stream_end(j->stream, late);
		return;
	}
	connect_stream_end(j->stream, err);
}

static void *pstream_run(void *arg)
{
	struct pstream *j = arg;
	pthread_t ticker;
	_cleanup_err_ struct thaw_err *err = NULL;
	log_request_id_copy(j->req_id);
	if (pthread_create(&ticker, NULL, pstream_tick, j) != 0) {
		err_set(&err, ERR_UNAVAILABLE, "cannot start a thread for the stream");
		connect_stream_end(j->stream, err);
		pstream_free(j);
		return NULL;
	}
	struct agent_exec_req req = exec_request(&j->p);
	req.on_start = on_start;
	req.on_output = on_output;
	req.ud = j;
	req.cancel = &j->cancel;
	req.attach_pid = j->attach_pid;
	req.attach_from_start = false;
	struct agent_exec_result res;
	int rc = sandbox_exec(j->h, j->id, &req, false, &res, &err);
	pthread_mutex_lock(&j->lock);
	j->done = true;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	pthread_join(ticker, NULL);
	pstream_finish(j, rc, &res, err);
	pstream_free(j);
	return NULL;
}

/* The client's stream settings, from its headers. */
static int pstream_headers(struct api_req *r, struct pstream *j, struct thaw_err **err)
{
	const char *ka =
		MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Keepalive-Ping-Interval");
	const char *to =
		MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Connect-Timeout-Ms");
	uint64_t ms = 0;
	if (e2b_keepalive_parse(ka, &j->keepalive_s, err) < 0 ||
	    e2b_timeout_parse(to, &ms, err) < 0)
		return -1;
	j->deadline_ns = ms ? time_mono_ns() + ms * 1000000ull : 0;
	return 0;
}

static struct pstream *pstream_new(struct api_req *r, const char *id)
{
	struct pstream *j = xcalloc(1, sizeof(*j));
	j->stream = api_stream_new();
	j->h = api_host(r);
	snprintf(j->id, sizeof(j->id), "%s", id);
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	return j;
}

/* Answers with the stream; runs j when err is NULL, else ends it with
 * err at once. Takes j. */
static enum MHD_Result pstream_go(struct api_req *r, struct pstream *j, struct thaw_err *err)
{
	enum MHD_Result ret = connect_stream_reply(r, j->stream);
	if (!err && api_thread_detached(pstream_run, j) == 0)
		return ret;
	_cleanup_err_ struct thaw_err *busy = NULL;
	if (!err)
		err_set(&busy, ERR_UNAVAILABLE, "cannot start a thread for the stream");
	connect_stream_end(j->stream, err ? err : busy);
	pstream_free(j);
	return ret;
}

/* The Start request's command, with the sandbox's environment under its
 * own, as the Authorization header's user. */
static int start_command(struct api_req *r, const char *id, json_t *msg, struct pstream *j,
			 struct thaw_err **err)
{
	char user[E2B_USER_MAX + 1];
	const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
	if (pstream_headers(r, j, err) < 0 || e2b_user_from_auth(auth, user, err) < 0 ||
	    e2b_start_parse(msg, user, &j->p, err) < 0)
		return -1;
	json_t *sbenv = NULL;
	int rc = sandbox_env_get(j->h, id, &sbenv, err);
	if (rc == 0)
		rc = exec_params_add_sandbox_env(&j->p, sbenv, err);
	json_decref(sbenv);
	j->pty = j->p.pty;
	return rc;
}

enum MHD_Result e2b_process_start(struct api_req *r)
{
	char id[SANDBOX_ID_LEN + 1];
	enum MHD_Result res;
	if (!e2b_sandbox_of(r, E2B_ENVD_PORT, id, &res))
		return res;
	json_t *msg = connect_stream_request(r, &res);
	if (!msg)
		return res;
	struct pstream *j = pstream_new(r, id);
	_cleanup_err_ struct thaw_err *err = NULL;
	start_command(r, id, msg, j, &err);
	json_decref(msg);
	return pstream_go(r, j, err);
}

enum MHD_Result e2b_process_connect(struct api_req *r)
{
	char id[SANDBOX_ID_LEN + 1];
	enum MHD_Result res;
	if (!e2b_sandbox_of(r, E2B_ENVD_PORT, id, &res))
		return res;
	json_t *msg = connect_stream_request(r, &res);
	if (!msg)
		return res;
	struct pstream *j = pstream_new(r, id);
	_cleanup_err_ struct thaw_err *err = NULL;
	struct e2b_selector sel;
	struct e2b_proc_found found;
	/* The table says whether its output is a terminal's, and a tag's pid. */
	if (pstream_headers(r, j, &err) == 0 && e2b_proc_request(msg, NULL, &sel, &err) == 0 &&
	    e2b_process_find(j->h, id, &sel, &found, &err) == 0) {
		j->attach_pid = found.pid;
		j->pty = found.pty;
	}
	json_decref(msg);
	return pstream_go(r, j, err);
}
