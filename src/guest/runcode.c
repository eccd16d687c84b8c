/* thaw:run-code: the code interpreter's client. The interpreter (the
 * template's, started before its snapshot) listens on RUN_CODE_SOCKET;
 * this relays stdin to it and its answer to stdout. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"

#define COPY_CHUNK 65536

/* Relays stdin to the code interpreter and its answer to stdout. */
int builtin_run_code(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", RUN_CODE_SOCKET);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		fprintf(stderr, "no code interpreter runs in this sandbox (%s: %s)\n",
			RUN_CODE_SOCKET, strerror(e));
		return e == ENOENT || e == ECONNREFUSED ? ENOENT : e;
	}
	static char buf[COPY_CHUNK];
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cmd_fail("read", "stdin", errno);
		if (n == 0)
			break;
		if (cmd_write_all(s, buf, (size_t)n) < 0)
			return cmd_fail("write", RUN_CODE_SOCKET, errno);
	}
	shutdown(s, SHUT_WR);
	for (;;) {
		ssize_t n = read(s, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? cmd_fail("read", RUN_CODE_SOCKET, errno) : 0;
		if (cmd_write_all(1, buf, (size_t)n) < 0)
			return EPIPE;
	}
}
