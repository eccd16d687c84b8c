#include "api/stream.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "timeutil.h"

#define HIGH_WATER (1u << 20)
/* How often a waiting reader looks whether the client is still there. */
#define CLIENT_CHECK_MS 250

struct api_stream {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* pending changed, done or cancelled */
	struct buf pending;
	bool done;
	bool failed;	/* end with an error instead of the final chunk */
	bool cancelled; /* written under lock, read by producers as a flag */
	int refs;
	int client_fd; /* -1 until replied */
};

struct api_stream *api_stream_new(void)
{
	struct api_stream *s = xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->refs = 1;
	s->client_fd = -1;
	return s;
}

void api_stream_unref(struct api_stream *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	int left = --s->refs;
	pthread_mutex_unlock(&s->lock);
	if (left)
		return;
	buf_free(&s->pending);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void cancel_locked(struct api_stream *s)
{
	__atomic_store_n(&s->cancelled, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&s->cond);
}

static void append(struct api_stream *s, const void *a, size_t alen, const void *b, size_t blen)
{
	pthread_mutex_lock(&s->lock);
	while (s->pending.len > HIGH_WATER && !s->cancelled)
		pthread_cond_wait(&s->cond, &s->lock);
	if (!s->cancelled) {
		buf_append(&s->pending, a, alen);
		buf_append(&s->pending, b, blen);
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

void api_stream_emit(struct api_stream *s, json_t *event)
{
	char *line = json_dumps(event, JSON_COMPACT);
	json_decref(event);
	if (line)
		append(s, line, strlen(line), "\n", 1);
	free(line);
}

void api_stream_write(struct api_stream *s, const void *data, size_t len)
{
	append(s, data, len, NULL, 0);
}

void api_stream_fail(struct api_stream *s)
{
	pthread_mutex_lock(&s->lock);
	s->failed = true;
	s->done = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

void api_stream_end(struct api_stream *s)
{
	pthread_mutex_lock(&s->lock);
	s->done = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

const bool *api_stream_cancel_flag(struct api_stream *s)
{
	return &s->cancelled;
}

/* The peer closed its side: nothing more will be read from us. */
static bool client_gone(int fd)
{
	if (fd < 0)
		return false;
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* libmicrohttpd calls this in the connection's thread: blocking is fine. */
static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)pos;
	struct api_stream *s = cls;
	pthread_mutex_lock(&s->lock);
	while (s->pending.len == 0 && !s->done && !s->cancelled) {
		struct timespec ts = time_after_ms(CLOCK_REALTIME, CLIENT_CHECK_MS);
		if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT &&
		    client_gone(s->client_fd))
			cancel_locked(s);
	}
	ssize_t n;
	if (s->cancelled) {
		n = MHD_CONTENT_READER_END_WITH_ERROR;
	} else if (s->pending.len) {
		size_t take = s->pending.len < max ? s->pending.len : max;
		memcpy(out, s->pending.data, take);
		buf_consume(&s->pending, take);
		pthread_cond_broadcast(&s->cond); /* room for the producer */
		n = (ssize_t)take;
	} else {
		n = s->failed ? MHD_CONTENT_READER_END_WITH_ERROR
			      : MHD_CONTENT_READER_END_OF_STREAM;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* The response is gone: finished, or the client went away. */
static void stream_release(void *cls)
{
	struct api_stream *s = cls;
	pthread_mutex_lock(&s->lock);
	if (!s->done)
		cancel_locked(s);
	pthread_mutex_unlock(&s->lock);
	api_stream_unref(s);
}

enum MHD_Result api_stream_reply(struct api_req *r, struct api_stream *s)
{
	return api_stream_reply_as(r, s, "application/x-ndjson", NULL);
}

enum MHD_Result api_stream_reply_as(struct api_req *r, struct api_stream *s,
				    const char *content_type, const char *const *headers)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	pthread_mutex_lock(&s->lock);
	s->refs++;
	s->client_fd = ci ? ci->connect_fd : -1;
	pthread_mutex_unlock(&s->lock);
	struct MHD_Response *resp = MHD_create_response_from_callback(
		MHD_SIZE_UNKNOWN, 16384, stream_read, s, stream_release);
	if (!resp) {
		stream_release(s);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
		MHD_add_response_header(resp, headers[i], headers[i + 1]);
	return api_queue(r, MHD_HTTP_OK, resp);
}

/* What a detached thread starts with: its work and the request id of
 * the thread that started it (its lines belong to that request). */
struct detached {
	void *(*fn)(void *);
	void *arg;
	char req_id[LOG_REQID_SIZE];
};

static void *detached_main(void *p)
{
	struct detached d = *(struct detached *)p;
	free(p);
	log_set_request_id(d.req_id);
	return d.fn(d.arg);
}

int api_thread_detached(void *(*fn)(void *), void *arg)
{
	struct detached *d = xmalloc(sizeof(*d));
	d->fn = fn;
	d->arg = arg;
	log_request_id_copy(d->req_id);
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &attr, detached_main, d);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		free(d);
	return rc == 0 ? 0 : -1;
}
