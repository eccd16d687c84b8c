/* Inside guestconn: the connection and the frame I/O that agent.c and
 * agentproc.c share. */
#ifndef THAW_AGENT_IO_H
#define THAW_AGENT_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "proto.h"

struct agent_conn {
	int fd;
	struct buf in, out;
	bool answered; /* the guest sent a whole frame on it (this request) */
	/* For reuse (agent_conn_idle): the last request was answered in
	 * full (EXIT, HELLO_OK, PREPARE_OK, or OK with no command followed);
	 * a command it started or attached to still runs. */
	bool idle, attached;
};

/* Sends what is queued, waiting until deadline (monotonic ns). */
int agent_flush_out(struct agent_conn *c, uint64_t deadline, struct thaw_err **err);
/* Reads until one whole frame is buffered; *used receives its size. */
int agent_read_frame(struct agent_conn *c, uint64_t deadline, struct proto_frame *f, long *used,
		     struct thaw_err **err);
/* An ERROR frame as an error: its message, its code from T_ERRNO. */
int agent_guest_refusal(const struct proto_frame *f, struct thaw_err **err);
/* After a failed thaw-agent/3 request: an agent that closed without a
 * word is an older one, which drops frames it does not know. Returns -1. */
int agent_old_check(struct agent_conn *c, struct thaw_err **err);

#endif
