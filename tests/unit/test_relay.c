/* src/common/relay.c: bytes both ways between two sockets, the early
 * bytes first, an end of stream passed on as a half-close, large
 * transfers against slow readers, and `done` called once with the
 * totals. Real sockets (socketpairs), real threads. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "relay.h"

struct ended {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls;
	struct relay_totals t;
	int a, b;
};

static void on_done(void *ud, const struct relay_totals *t)
{
	struct ended *e = ud;
	close(e->a);
	close(e->b);
	pthread_mutex_lock(&e->lock);
	e->calls++;
	e->t = *t;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

static void wait_done(struct ended *e)
{
	pthread_mutex_lock(&e->lock);
	while (e->calls == 0)
		pthread_cond_wait(&e->cond, &e->lock);
	pthread_mutex_unlock(&e->lock);
}

/* client <-> [a relay b] <-> server */
static void start(struct ended *e, int *client, int *server, const char *pre)
{
	int p1[2], p2[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p1), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p2), 0);
	*e = (struct ended){ .lock = PTHREAD_MUTEX_INITIALIZER,
			     .cond = PTHREAD_COND_INITIALIZER,
			     .a = p1[1],
			     .b = p2[0] };
	*client = p1[0];
	*server = p2[1];
	struct relay_spec s = { .a = e->a, .b = e->b, .pre = pre, .pre_len = pre ? strlen(pre) : 0,
				.done = on_done, .ud = e };
	struct thaw_err *err = NULL;
	if (relay_start(&s, &err) < 0)
		fail_msg("relay_start: %s", err_msg(err));
}

static void read_exact(int fd, char *out, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, out + got, n - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
}

static void test_both_ways_early_bytes_first_half_close(void **state)
{
	(void)state;
	struct ended e;
	int client, server;
	start(&e, &client, &server, "early:");
	assert_int_equal(write(client, "hello", 5), 5);
	char got[16] = { 0 };
	read_exact(server, got, 11);
	assert_string_equal(got, "early:hello");
	/* The client is done sending: the server sees end of stream but can
	 * still answer. */
	shutdown(client, SHUT_WR);
	assert_int_equal(read(server, got, sizeof(got)), 0);
	assert_int_equal(write(server, "answer", 6), 6);
	memset(got, 0, sizeof(got));
	read_exact(client, got, 6);
	assert_string_equal(got, "answer");
	shutdown(server, SHUT_WR);
	assert_int_equal(read(client, got, sizeof(got)), 0);
	wait_done(&e);
	assert_int_equal(e.calls, 1);
	assert_int_equal(e.t.a_to_b, 11);
	assert_int_equal(e.t.b_to_a, 6);
	close(client);
	close(server);
}

struct writer {
	int fd;
	size_t n;
};

static void *write_pattern(void *arg)
{
	struct writer *w = arg;
	uint8_t chunk[8192];
	for (size_t off = 0; off < w->n;) {
		size_t k = w->n - off < sizeof(chunk) ? w->n - off : sizeof(chunk);
		for (size_t i = 0; i < k; i++)
			chunk[i] = (uint8_t)((off + i) * 7 + 3);
		ssize_t r = write(w->fd, chunk, k);
		if (r <= 0)
			return NULL;
		off += (size_t)r;
	}
	shutdown(w->fd, SHUT_WR);
	return NULL;
}

/* 32 MiB each way at once, read in small pieces: neither direction may
 * wait for the other (a relay that blocks on one write deadlocks here). */
static void test_large_transfers_both_ways_at_once(void **state)
{
	(void)state;
	struct ended e;
	int client, server;
	start(&e, &client, &server, NULL);
	size_t n = 32u << 20;
	struct writer wc = { client, n }, ws = { server, n };
	pthread_t tc, ts;
	pthread_create(&tc, NULL, write_pattern, &wc);
	pthread_create(&ts, NULL, write_pattern, &ws);
	int fds[2] = { server, client };
	size_t got[2] = { 0, 0 };
	bool eof[2] = { false, false };
	uint8_t buf[1000];
	while (!eof[0] || !eof[1]) {
		for (int i = 0; i < 2; i++) {
			if (eof[i])
				continue;
			ssize_t r = read(fds[i], buf, sizeof(buf));
			assert_true(r >= 0);
			if (r == 0) {
				eof[i] = true;
				continue;
			}
			for (ssize_t k = 0; k < r; k++)
				assert_int_equal(buf[k], (uint8_t)((got[i] + (size_t)k) * 7 + 3));
			got[i] += (size_t)r;
		}
	}
	pthread_join(tc, NULL);
	pthread_join(ts, NULL);
	assert_int_equal(got[0], n);
	assert_int_equal(got[1], n);
	wait_done(&e);
	assert_int_equal(e.t.a_to_b, n);
	assert_int_equal(e.t.b_to_a, n);
	close(client);
	close(server);
}

/* A peer that goes away entirely ends the relay even while the other
 * side stays open and silent. */
static void test_a_peer_that_closes_ends_the_relay(void **state)
{
	(void)state;
	struct ended e;
	int client, server;
	start(&e, &client, &server, NULL);
	close(server);
	char c;
	assert_int_equal(read(client, &c, 1), 0);
	wait_done(&e);
	assert_int_equal(e.calls, 1);
	close(client);
}

/* Shutting the relay's own socket down (what a sandbox that stops
 * running does to its in-flight sockets) ends it. */
static void test_cutting_a_socket_ends_the_relay(void **state)
{
	(void)state;
	struct ended e;
	int client, server;
	start(&e, &client, &server, NULL);
	shutdown(e.b, SHUT_RDWR);
	wait_done(&e);
	assert_int_equal(e.calls, 1);
	close(client);
	close(server);
}

static void test_too_many_early_bytes_are_refused(void **state)
{
	(void)state;
	size_t n = 65 * 1024;
	char *pre = xmalloc(n);
	memset(pre, 'x', n);
	struct relay_spec s = { .a = -1, .b = -1, .pre = pre, .pre_len = n, .done = on_done };
	struct thaw_err *err = NULL;
	assert_int_equal(relay_start(&s, &err), -1);
	assert_non_null(err);
	err_free(err);
	free(pre);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_both_ways_early_bytes_first_half_close),
		cmocka_unit_test(test_large_transfers_both_ways_at_once),
		cmocka_unit_test(test_a_peer_that_closes_ends_the_relay),
		cmocka_unit_test(test_cutting_a_socket_ends_the_relay),
		cmocka_unit_test(test_too_many_early_bytes_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
