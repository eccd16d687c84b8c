/* src/thawd/guestconn: when a connection to the guest agent may carry the
 * next request (agent_conn_idle). The test plays the guest on the other
 * end of a socketpair: its answers are written before each call, so the
 * host side reads real frames from a real socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "guestconn/agent.h"
#include "guestconn/agent_io.h"
#include "proto.h"

struct pair {
	struct agent_conn *c;
	int guest;
};

static int setup(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct pair *p = calloc(1, sizeof(*p));
	p->c = calloc(1, sizeof(*p->c));
	p->c->fd = sv[0];
	p->guest = sv[1];
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;
	agent_close(p->c);
	if (p->guest >= 0)
		close(p->guest);
	free(p);
	return 0;
}

/* The guest's side: frames queued on its end of the socket. */
static void guest_says(struct pair *p, const struct buf *b)
{
	assert_int_equal(write(p->guest, b->data, b->len), (ssize_t)b->len);
}

static void put_empty(struct buf *b, enum proto_type t)
{
	proto_end(b, proto_begin(b, t, 0));
}

static void put_exit(struct buf *b, int code)
{
	size_t s = proto_begin(b, MSG_EXIT, 0);
	proto_put_u32(b, T_EXIT_CODE, (uint32_t)code);
	proto_end(b, s);
}

/* What the host sent is drained, as the agent would read it. */
static void guest_reads(struct pair *p)
{
	char sink[65536];
	while (recv(p->guest, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
}

static int run_true(struct pair *p, struct agent_exec_result *res)
{
	const char *argv[] = { "true", NULL };
	struct agent_exec_req req = { .argv = argv, .timeout_ms = 5000, .max_output = 4096 };
	struct thaw_err *err = NULL;
	int rc = agent_exec(p->c, &req, res, &err);
	err_free(err);
	guest_reads(p);
	return rc;
}

/* An exec the guest answers with EXIT 0, then `extra` (a frame type, or
 * 0 for none) that nobody asked for. */
static void exec_answered(struct pair *p, enum proto_type extra)
{
	struct buf g = { 0 };
	put_exit(&g, 0);
	if (extra)
		put_empty(&g, extra);
	guest_says(p, &g);
	buf_free(&g);
	struct agent_exec_result res;
	assert_int_equal(run_true(p, &res), 0);
	agent_exec_result_free(&res);
}

static void a_new_connection_is_not_idle(void **state)
{
	struct pair *p = *state;
	assert_false(agent_conn_idle(p->c));
}

static void an_exec_answered_in_full_leaves_it_idle_for_the_next(void **state)
{
	struct pair *p = *state;
	struct buf g = { 0 };
	size_t s = proto_begin(&g, MSG_STARTED, 0);
	proto_put_u32(&g, T_PID, 42);
	proto_end(&g, s);
	proto_put_raw_frame(&g, MSG_OUTPUT, STREAM_STDOUT, "hi", 2);
	put_exit(&g, 0);
	guest_says(p, &g);
	struct agent_exec_result res;
	assert_int_equal(run_true(p, &res), 0);
	assert_int_equal(res.out.len, 2);
	agent_exec_result_free(&res);
	assert_true(agent_conn_idle(p->c));
	/* Taken for the next request, it is busy until that one ends. */
	agent_conn_reuse(p->c);
	assert_false(agent_conn_idle(p->c));
	g.len = 0;
	put_exit(&g, 3);
	guest_says(p, &g);
	assert_int_equal(run_true(p, &res), 0);
	assert_int_equal(res.exit_code, 3);
	agent_exec_result_free(&res);
	assert_true(agent_conn_idle(p->c));
	buf_free(&g);
}

static void bytes_after_the_answer_make_it_unusable(void **state)
{
	struct pair *p = *state;
	exec_answered(p, MSG_OK);
	assert_false(agent_conn_idle(p->c));
}

static void a_closed_peer_makes_it_unusable(void **state)
{
	struct pair *p = *state;
	exec_answered(p, 0);
	assert_true(agent_conn_idle(p->c));
	close(p->guest); /* the agent dropped it while it was parked */
	p->guest = -1;
	assert_false(agent_conn_idle(p->c));
}

static void a_refused_request_is_not_reused(void **state)
{
	struct pair *p = *state;
	struct buf g = { 0 };
	size_t s = proto_begin(&g, MSG_ERROR, 0);
	proto_put_str(&g, T_MESSAGE, "a command is already running on this connection");
	proto_end(&g, s);
	guest_says(p, &g);
	struct agent_exec_result res;
	assert_int_equal(run_true(p, &res), -1);
	assert_false(agent_conn_idle(p->c));
	buf_free(&g);
}

static void a_hello_and_a_listing_leave_it_idle(void **state)
{
	struct pair *p = *state;
	struct buf g = { 0 };
	size_t s = proto_begin(&g, MSG_HELLO_OK, 0);
	proto_put_str(&g, T_VERSION, PROTO_VERSION);
	proto_end(&g, s);
	guest_says(p, &g);
	struct thaw_err *err = NULL;
	assert_int_equal(agent_hello(p->c, "sb-test", true, 5000, NULL, &err), 0);
	guest_reads(p);
	assert_true(agent_conn_idle(p->c));
	g.len = 0;
	s = proto_begin(&g, MSG_PROC, 0);
	proto_put_u32(&g, T_PID, 7);
	proto_put_str(&g, T_CMD, "sleep 1");
	proto_put_u8(&g, T_RUNNING, 1);
	proto_end(&g, s);
	put_empty(&g, MSG_OK);
	guest_says(p, &g);
	agent_conn_reuse(p->c);
	struct agent_proc *v = NULL;
	size_t n = 0;
	assert_int_equal(agent_proc_list(p->c, 5000, &v, &n, &err), 0);
	guest_reads(p);
	assert_int_equal(n, 1);
	agent_procs_free(v, n);
	/* The OK that ended the list was consumed with it. */
	assert_true(agent_conn_idle(p->c));
	err_free(err);
	buf_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_new_connection_is_not_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(an_exec_answered_in_full_leaves_it_idle_for_the_next,
						setup, teardown),
		cmocka_unit_test_setup_teardown(bytes_after_the_answer_make_it_unusable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_closed_peer_makes_it_unusable, setup, teardown),
		cmocka_unit_test_setup_teardown(a_refused_request_is_not_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(a_hello_and_a_listing_leave_it_idle, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
