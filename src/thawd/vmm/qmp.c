#include "qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"
#include "timeutil.h"

#define QMP_MAX_LINE (4u << 20)
#define QMP_MAX_EVENTS 64

struct qmp {
	int fd;
	struct buf in;
	json_t *events; /* array of events not yet consumed */
	unsigned pending; /* commands sent, answers not yet read */
};

static int deadline_left_ms(uint64_t deadline)
{
	uint64_t now = time_mono_ns();
	return now >= deadline ? 0 : (int)((deadline - now) / 1000000ull) + 1;
}

int qmp_connect(const char *path, int timeout_ms, struct qmp **out, struct thaw_err **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, ERR_INTERNAL, "QMP socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	uint64_t deadline = time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	_cleanup_close_ int fd = -1;
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return err_sys(err, "socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		if ((errno != ENOENT && errno != ECONNREFUSED) || deadline_left_ms(deadline) == 0)
			return err_sys(err, "connecting to QMP at %s", path);
		close(fd);
		fd = -1;
		usleep(200);
	}
	struct qmp *q = qmp_from_fd(steal_fd(&fd));
	if (qmp_wait_return(q, deadline_left_ms(deadline) + 1000, NULL, err) < 0) {
		qmp_close(q);
		return err_wrap(err, "reading the QMP greeting");
	}
	*out = q;
	return 0;
}

struct qmp *qmp_from_fd(int fd)
{
	fd = fd_keep_high(fd); /* held for the VMM's whole life */
	struct qmp *q = xcalloc(1, sizeof(*q));
	q->fd = fd;
	q->events = json_array();
	/* The greeting is an unsolicited message: read it like an answer. */
	q->pending = 1;
	return q;
}

void qmp_close(struct qmp *q)
{
	if (!q)
		return;
	close(q->fd);
	buf_free(&q->in);
	json_decref(q->events);
	free(q);
}

static int send_line(struct qmp *q, const char *cmd, json_t *args, int fd, struct thaw_err **err)
{
	json_t *msg = json_pack("{s:s}", "execute", cmd);
	if (args)
		json_object_set_new(msg, "arguments", args);
	char *text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	_cleanup_free_ char *line = xasprintf("%s\n", text);
	free(text);
	struct iovec iov = { .iov_base = line, .iov_len = strlen(line) };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	/* Commands are small; a short write here would be a broken socket. */
	ssize_t n = sendmsg(q->fd, &mh, MSG_NOSIGNAL);
	if (n != (ssize_t)iov.iov_len)
		return err_sys(err, "sending QMP %s", cmd);
	q->pending++;
	return 0;
}

int qmp_send(struct qmp *q, const char *cmd, json_t *args, struct thaw_err **err)
{
	return send_line(q, cmd, args, -1, err);
}

int qmp_send_with_fd(struct qmp *q, const char *cmd, json_t *args, int fd,
		     struct thaw_err **err)
{
	return send_line(q, cmd, args, fd, err);
}

/* Reads the next complete JSON line. */
static int read_message(struct qmp *q, uint64_t deadline, json_t **out, struct thaw_err **err)
{
	for (;;) {
		char *nl = q->in.len ? memchr(q->in.data, '\n', q->in.len) : NULL;
		if (nl) {
			size_t linelen = (size_t)(nl - (char *)q->in.data);
			json_error_t je;
			json_t *m = json_loadb((char *)q->in.data, linelen, 0, &je);
			buf_consume(&q->in, linelen + 1);
			if (!m || !json_is_object(m)) {
				json_decref(m);
				return err_set(err, ERR_UNAVAILABLE, "QMP sent malformed JSON: %s",
					       je.text);
			}
			*out = m;
			return 0;
		}
		if (q->in.len > QMP_MAX_LINE)
			return err_set(err, ERR_UNAVAILABLE, "QMP line too long");
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		int r = poll(&p, 1, deadline_left_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_sys(err, "poll on QMP");
		if (r == 0)
			return err_set(err, ERR_TIMEOUT, "QMP did not answer in time");
		buf_reserve(&q->in, 8192);
		ssize_t n = read(q->fd, q->in.data + q->in.len, 8192);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_set(err, ERR_UNAVAILABLE, "the VMM closed its QMP socket");
		q->in.len += (size_t)n;
	}
}

static void keep_event(struct qmp *q, json_t *m)
{
	if (json_array_size(q->events) >= QMP_MAX_EVENTS)
		json_array_remove(q->events, 0);
	json_array_append(q->events, m);
}

/* True (and *err set) when an answer reports an error. */
static bool answer_failed(json_t *m, struct thaw_err **err)
{
	json_t *e = json_object_get(m, "error");
	if (!e)
		return false;
	const char *desc = json_string_value(json_object_get(e, "desc"));
	err_set(err, ERR_UNAVAILABLE, "QMP error: %s", desc ? desc : "(no description)");
	return true;
}

int qmp_wait_return(struct qmp *q, int timeout_ms, json_t **ret, struct thaw_err **err)
{
	if (q->pending == 0)
		return err_set(err, ERR_INTERNAL, "no QMP command is waiting for an answer");
	uint64_t deadline = time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		json_t *m = NULL;
		if (read_message(q, deadline, &m, err) < 0)
			return -1;
		if (json_object_get(m, "event")) {
			keep_event(q, m);
			json_decref(m);
			continue;
		}
		q->pending--;
		if (answer_failed(m, err)) {
			json_decref(m);
			return -1;
		}
		if (ret) {
			json_t *r = json_object_get(m, "return");
			*ret = r ? json_incref(r) : json_incref(m);
		}
		json_decref(m);
		return 0;
	}
}

int qmp_call(struct qmp *q, const char *cmd, json_t *args, int timeout_ms, json_t **ret,
	     struct thaw_err **err)
{
	if (qmp_send(q, cmd, args, err) < 0)
		return -1;
	return qmp_wait_return(q, timeout_ms, ret, err);
}

static uint64_t event_time_ns(json_t *ev)
{
	json_t *ts = json_object_get(ev, "timestamp");
	json_int_t s = json_integer_value(json_object_get(ts, "seconds"));
	json_int_t us = json_integer_value(json_object_get(ts, "microseconds"));
	return (uint64_t)s * 1000000000ull + (uint64_t)us * 1000ull;
}

/* 1 matched, -1 migration failed, 0 neither. */
static int event_matches(json_t *ev, const char *name, const char *status)
{
	const char *ename = json_string_value(json_object_get(ev, "event"));
	const char *estatus =
		json_string_value(json_object_get(json_object_get(ev, "data"), "status"));
	if (!ename)
		return 0;
	if (strcmp(ename, "MIGRATION") == 0 && estatus && strcmp(estatus, "failed") == 0)
		return -1;
	if (strcmp(ename, name) != 0)
		return 0;
	return !status || (estatus && strcmp(estatus, status) == 0);
}

int qmp_wait_event(struct qmp *q, const char *name, const char *status, int timeout_ms,
		   uint64_t *when_ns, struct thaw_err **err)
{
	uint64_t deadline = time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		size_t i;
		json_t *ev;
		json_array_foreach(q->events, i, ev)
		{
			int m = event_matches(ev, name, status);
			if (m == 0)
				continue;
			uint64_t t = event_time_ns(ev);
			json_array_remove(q->events, i);
			if (m < 0)
				return err_set(err, ERR_UNAVAILABLE, "the VMM reports migration failed");
			if (when_ns)
				*when_ns = t;
			return 0;
		}
		json_t *m = NULL;
		if (read_message(q, deadline, &m, err) < 0)
			return err_wrap(err, "waiting for QMP event %s", name);
		if (json_object_get(m, "event")) {
			keep_event(q, m);
		} else {
			/* The answer to a pipelined command: only its failure matters. */
			if (q->pending > 0)
				q->pending--;
			if (answer_failed(m, err)) {
				json_decref(m);
				return -1;
			}
		}
		json_decref(m);
	}
}
