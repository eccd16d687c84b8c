/* Structured, quiet-by-default logging in logfmt:
 *   ts=2026-11-28T01:02:03.456Z level=info event=sandbox.created id=sb-... total_ms=41.2
 * `event` is a stable dotted name; the rest are key=value pairs given by
 * the caller's format. Default level is `notice`: start-up, shutdown and
 * problems only. A line logged while a thread works for an API request
 * ends with ` req=<id>` (log_set_request_id), the id the request's answer
 * carries in X-Request-Id. */
#ifndef THAW_LOG_H
#define THAW_LOG_H

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_NOTICE, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level(enum log_level level);
/* Parses "error|warn|notice|info|debug"; returns -1 when unknown. */
int log_parse_level(const char *s, enum log_level *out);
int log_enabled(enum log_level level);
/* "error", "warn", ...: what log_parse_level reads. */
const char *log_level_name(enum log_level level);

/* The request the calling thread works for: thread-local, copied (up to
 * 64 bytes; the caller validates it: it is written into lines as is).
 * NULL or "" clears it. A thread started for a request's work copies the
 * id into its argument and sets it first thing; background threads
 * (pools, janitor, sampler) carry none. */
void log_set_request_id(const char *id);
#define LOG_REQID_SIZE 65
/* The calling thread's request id into out ("" when none): what a thread
 * started for the request's work is handed, to set when it starts. */
void log_request_id_copy(char out[LOG_REQID_SIZE]);
/* The calling thread's request id, or NULL when it has none. Valid until
 * the thread sets another. */
const char *log_request_id(void);

void log_emit(enum log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(ev, ...) log_emit(LOG_LVL_ERROR, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_emit(LOG_LVL_WARN, ev, __VA_ARGS__)
#define log_notice(ev, ...) log_emit(LOG_LVL_NOTICE, ev, __VA_ARGS__)
#define log_info(ev, ...) log_emit(LOG_LVL_INFO, ev, __VA_ARGS__)
#define log_debug(ev, ...) log_emit(LOG_LVL_DEBUG, ev, __VA_ARGS__)

#endif
