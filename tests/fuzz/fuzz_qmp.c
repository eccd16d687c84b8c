/* libFuzzer: thawd's QMP client (src/thawd/vmm/qmp.c) reading what a VMM
 * sends. A VMM runs guest-controlled code: one taken over by its guest
 * can send anything on its QMP socket, and thawd, which reads it, runs as
 * root. The input is the VMM's side of the conversation; thawd waits for
 * the greeting, the answers to a restore's pipelined commands and its
 * events, then a command with a result, as a restore and a capture do. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	int sv[2];
	if (len > 60000 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	/* All of it is in the socket before thawd reads, then EOF. */
	if (write(sv[1], data, len) != (ssize_t)len) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR);
	struct qmp *q = qmp_from_fd(sv[0]);
	struct thaw_err *err = NULL;
	uint64_t when = 0;
	json_t *ret = NULL;
	if (qmp_wait_return(q, 100, NULL, &err) == 0 &&
	    qmp_send(q, "qmp_capabilities", NULL, &err) == 0 &&
	    qmp_send(q, "migrate-incoming", NULL, &err) == 0 &&
	    qmp_wait_return(q, 100, NULL, &err) == 0 &&
	    qmp_wait_event(q, "MIGRATION", "completed", 100, &when, &err) == 0 &&
	    qmp_wait_event(q, "RESUME", NULL, 100, &when, &err) == 0 &&
	    qmp_call(q, "query-status", NULL, 100, &ret, &err) == 0)
		json_decref(ret);
	err_free(err);
	qmp_close(q);
	close(sv[1]);
	return 0;
}
