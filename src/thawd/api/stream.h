/* NDJSON response streams: a worker thread produces events, the
 * connection's thread (libmicrohttpd) hands them to the client as they
 * come. Used by bake (progress) and streaming exec (output).
 *
 * Backpressure: emitting blocks while more than a high-water mark is
 * waiting for the client, so a slow reader slows the producer (and, for
 * exec, the command in the guest) instead of growing memory.
 *
 * A client that goes away is noticed even while nothing is produced: the
 * reader checks the client's socket while it waits. The stream is then
 * cancelled: emit returns at once, and the producer, which watches the
 * flag api_stream_cancel_flag gives, stops at its next check. */
#ifndef THAW_API_STREAM_H
#define THAW_API_STREAM_H

#include <jansson.h>
#include <stdbool.h>

#include "api/api.h"

struct api_stream;

/* A stream held by the caller (the producer) and, once replied, by the
 * response. */
struct api_stream *api_stream_new(void);
/* Queues the 200 NDJSON response that reads from s. On failure the
 * response reference is dropped and the producer should stop. */
enum MHD_Result api_stream_reply(struct api_req *r, struct api_stream *s);
/* The same with another content type and extra headers (name, value
 * pairs, NULL-terminated; may be NULL). */
enum MHD_Result api_stream_reply_as(struct api_req *r, struct api_stream *s,
				    const char *content_type, const char *const *headers);
/* Appends raw bytes (for a non-NDJSON stream), with the same waiting. */
void api_stream_write(struct api_stream *s, const void *data, size_t len);
/* Ends the response as broken after what is queued: the client sees a
 * truncated body (no final chunk), not a complete one. */
void api_stream_fail(struct api_stream *s);
/* Appends one event as a line (steals event); waits while the client is
 * behind. Does nothing once cancelled. */
void api_stream_emit(struct api_stream *s, json_t *event);
/* No more events: the response ends after what is queued. */
void api_stream_end(struct api_stream *s);
/* A flag the producer may poll without the stream's lock (it stays
 * valid while the producer holds its reference). */
const bool *api_stream_cancel_flag(struct api_stream *s);
void api_stream_unref(struct api_stream *s);

/* Runs fn(arg) in a detached thread that carries the caller's request id
 * (log.h): its work is part of the request; -1 if it could not start. */
int api_thread_detached(void *(*fn)(void *), void *arg);

#endif
