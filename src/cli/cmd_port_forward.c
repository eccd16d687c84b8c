/* thaw port-forward: a local TCP port whose connections reach a port in a
 * sandbox, each over an API tunnel of its own (thaw_sandbox_tunnel). The
 * tunnels are opened on the main thread (a thaw_client is used from one
 * thread at a time); each connection's bytes are then pumped by a thread
 * of its own, which passes half-closes on. Runs until SIGINT or SIGTERM
 * (exit 0). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

#define PUMP_BUF 65536

static volatile sig_atomic_t stop_asked;

static void on_stop(int sig)
{
	(void)sig;
	stop_asked = 1;
}

struct pair {
	int local, remote;
};

/* One direction: false when it has ended (end of stream passed on) or failed. */
static bool pump(int from, int to, char *buf, bool *failed)
{
	ssize_t n = recv(from, buf, PUMP_BUF, 0);
	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0) {
		*failed = n < 0;
		shutdown(to, SHUT_WR);
		return false;
	}
	if (!cli_write(to, buf, (size_t)n)) {
		*failed = true;
		return false;
	}
	return true;
}

static void *relay(void *arg)
{
	struct pair *p = arg;
	char *buf = malloc(PUMP_BUF);
	struct pollfd fds[2] = { { .fd = p->local, .events = POLLIN },
				 { .fd = p->remote, .events = POLLIN } };
	bool failed = false;
	while (buf && (fds[0].fd >= 0 || fds[1].fd >= 0) && !failed) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2 && !failed; i++) {
			if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    !pump(fds[i].fd, i ? p->local : p->remote, buf, &failed))
				fds[i].fd = -1;
		}
	}
	free(buf);
	close(p->local);
	close(p->remote);
	free(p);
	return NULL;
}

static int listen_on(const char *addr, int port, int *out_port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "thaw: port-forward: %s is not an IPv4 address\n", addr);
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	socklen_t len = sizeof(sa);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		fprintf(stderr, "thaw: port-forward: cannot listen on %s:%d: %s\n", addr, port,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*out_port = ntohs(sa.sin_port);
	return fd;
}

/* A connection accepted: its tunnel, then its pump. A refused tunnel
 * closes the connection and is reported; the forward goes on. */
static void forward_one(thaw_client *c, const char *id, int remote, bool auto_resume, int conn)
{
	int fd = -1;
	thaw_error *e = NULL;
	if (thaw_sandbox_tunnel(c, id, remote, auto_resume, &fd, &e) < 0) {
		char *msg = cli_printable(thaw_error_message(e));
		char *req = cli_printable(thaw_error_request_id(e));
		if (*req)
			fprintf(stderr, "thaw: port-forward: %s (request %s)\n", msg, req);
		else
			fprintf(stderr, "thaw: port-forward: %s\n", msg);
		free(msg);
		free(req);
		thaw_error_free(e);
		close(conn);
		return;
	}
	struct pair *p = malloc(sizeof(*p));
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!p) {
		close(conn);
		close(fd);
	} else {
		*p = (struct pair){ .local = conn, .remote = fd };
		if (pthread_create(&t, &attr, relay, p) != 0) {
			close(conn);
			close(fd);
			free(p);
		}
	}
	pthread_attr_destroy(&attr);
}

/* LOCAL:REMOTE or PORT (the same on both sides). */
static int parse_spec(const char *spec, int *local, int *remote)
{
	const char *colon = strchr(spec, ':');
	char lbuf[16];
	if (!colon) {
		if (cli_parse_int(&cmd_port_forward, "PORT", spec, 1, 65535, remote) != 0)
			return -1;
		*local = *remote;
		return 0;
	}
	if ((size_t)(colon - spec) >= sizeof(lbuf))
		return cli_usage_error(&cmd_port_forward, "bad LOCAL port in %s", spec), -1;
	snprintf(lbuf, sizeof(lbuf), "%.*s", (int)(colon - spec), spec);
	if (cli_parse_int(&cmd_port_forward, "LOCAL", lbuf, 0, 65535, local) != 0 ||
	    cli_parse_int(&cmd_port_forward, "REMOTE", colon + 1, 1, 65535, remote) != 0)
		return -1;
	return 0;
}

static int serve(thaw_client *c, const char *id, int lfd, int remote, bool auto_resume)
{
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old); /* relay threads inherit it */
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	while (!stop_asked) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		/* The signals are let in only while waiting: none is lost. */
		int n = ppoll(&p, 1, NULL, &old);
		if (n < 0 && errno != EINTR) {
			perror("thaw: port-forward: poll");
			return EXIT_FAIL;
		}
		if (n <= 0)
			continue;
		int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (conn >= 0)
			forward_one(c, id, remote, auto_resume, conn);
	}
	return EXIT_OK;
}

static int port_forward_run(struct cli *cli, int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	bool auto_resume = false;
	struct cli_args a;
	int rc = cli_parse(&cmd_port_forward,
			   (const struct cli_opt[]){ { "address", 0, OPT_VALUE, &addr },
						     { "auto-resume", 0, OPT_FLAG, &auto_resume },
						     { 0 } },
			   false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_port_forward, &a, 2, 2)) != 0)
		return cli_parse_exit(&cmd_port_forward, rc);
	int local = 0, remote = 0;
	if (parse_spec(a.pos[1], &local, &remote) < 0)
		return EXIT_USAGE;
	thaw_client *c = cli_client(cli);
	if (!c)
		return EXIT_FAIL;
	int bound = 0;
	int lfd = listen_on(addr, local, &bound);
	if (lfd < 0)
		return EXIT_FAIL;
	printf("Forwarding %s:%d -> %s:%d\n", addr, bound, a.pos[0], remote);
	fflush(stdout);
	rc = serve(c, a.pos[0], lfd, remote, auto_resume);
	close(lfd);
	return rc;
}

const struct cli_command cmd_port_forward = {
	.name = "port-forward",
	.args = "[--address ADDR] [--auto-resume] ID LOCAL:REMOTE|PORT",
	.summary = "Forward a local TCP port to a port in a sandbox (until ^C).",
	.help = "Listens on ADDR:LOCAL (default 127.0.0.1; LOCAL 0 picks a free port, printed\n"
		"as \"Forwarding ADDR:PORT -> ID:REMOTE\") and opens one API tunnel\n"
		"(GET /v1/sandboxes/ID/tunnel/REMOTE) per accepted connection. PORT alone\n"
		"is the same port on both sides. --auto-resume resumes a paused sandbox.\n"
		"SIGINT or SIGTERM stops it (exit 0).\n",
	.run = port_forward_run,
};
