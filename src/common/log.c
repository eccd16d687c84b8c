#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level current_level = LOG_LVL_NOTICE;

/* 65 bytes of TLS per thread: thawd's static TLS is already large, so
 * the id is kept in place rather than behind a pointer to the heap. */
static __thread char request_id[LOG_REQID_SIZE];

void log_set_request_id(const char *id)
{
	if (!id) {
		request_id[0] = '\0';
		return;
	}
	size_t n = strnlen(id, sizeof(request_id) - 1);
	memcpy(request_id, id, n);
	request_id[n] = '\0';
}

void log_request_id_copy(char out[LOG_REQID_SIZE])
{
	memcpy(out, request_id, LOG_REQID_SIZE);
}

const char *log_request_id(void)
{
	return request_id[0] ? request_id : NULL;
}

static const char *const level_names[] = { "error", "warn", "notice", "info", "debug" };

void log_set_level(enum log_level level)
{
	current_level = level;
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *log_level_name(enum log_level level)
{
	size_t i = (size_t)level;
	return i < sizeof(level_names) / sizeof(level_names[0]) ? level_names[i] : "notice";
}

int log_enabled(enum log_level level)
{
	return level <= current_level;
}

void log_emit(enum log_level level, const char *event, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char line[2048];
	/* The request id goes last and always fits: a long message is cut
	 * before it, never the id. */
	size_t tail = request_id[0] ? strlen(request_id) + 5 : 0;
	size_t room = sizeof(line) - tail;
	int n = snprintf(line, room,
			 "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], event);
	if (fmt && *fmt && n > 0 && (size_t)n < room - 2) {
		line[n++] = ' ';
		va_list ap;
		va_start(ap, fmt);
		int m = vsnprintf(line + n, room - (size_t)n, fmt, ap);
		va_end(ap);
		if (m > 0)
			n += m;
	}
	if (n < 0 || (size_t)n > room - 2)
		n = (int)room - 2;
	if (tail)
		n += snprintf(line + n, tail + 1, " req=%s", request_id);
	line[n++] = '\n';
	/* One write per line keeps lines whole when threads log at once. */
	fwrite(line, 1, (size_t)n, stderr);
	fflush(stderr);
}
