/* The agent's event loop state, shared by server.c (connections, pipes,
 * reaping) and procmsg.c (the process table's messages). */
#ifndef THAW_GUEST_SERVER_H
#define THAW_GUEST_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "session.h"

#define MAX_CONNS 64
#define OUT_HIGH_WATER (1u << 20)

struct conn {
	int fd;
	struct buf in, out;
	/* The command this connection follows (it started it, or attached
	 * to it): its output comes here, STDIN and RESIZE go to it. */
	struct session *sess;
	bool owner;	/* it started sess (kill_on_disconnect applies) */
	bool closing;	/* flush out, then close */
	bool from_host; /* the peer is the host end of the guest network */
	uint64_t seq;	/* accept order: older ones give way first */
};

struct server {
	const struct agent_opts *opts;
	int listen_fd, sig_fd;
	struct conn *conns[MAX_CONNS];
	struct proctab procs;
	uint64_t accepted;
};

/* An ERROR frame; e is an errno the host maps (T_ERRNO), 0 for none. */
void server_reply_error(struct conn *c, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* procmsg.c: LIST, ATTACH, SIGNAL, PROC_STDIN, PROC_RESIZE. */
void procmsg_list(struct server *srv, struct conn *c);
void procmsg_attach(struct server *srv, struct conn *c, const struct proto_frame *f);
void procmsg_signal(struct server *srv, struct conn *c, const struct proto_frame *f);
void procmsg_stdin(struct server *srv, struct conn *c, const struct proto_frame *f);
void procmsg_resize(struct server *srv, struct conn *c, const struct proto_frame *f);

#endif
