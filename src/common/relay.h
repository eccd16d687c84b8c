/* A byte relay between two connected stream sockets: what arrives on one
 * is written to the other, both ways, until both directions have ended
 * (an end of stream is passed on as shutdown(SHUT_WR), so half-closing
 * protocols work) or either side fails. Each relay runs on its own
 * detached thread with a small stack and two bounded buffers, so a slow
 * reader never blocks its writer's caller and a thousand open tunnels
 * cost a thousand small threads, not a thousand megabytes.
 *
 * The relay never closes the descriptors: when it has finished it calls
 * `done` exactly once, which owns them from then on (an upgraded
 * libmicrohttpd socket must be closed through MHD, a socket inside a
 * sandbox leaves the sandbox's in-flight list first). To cut a relay
 * early, shut its sockets down (shutdown(SHUT_RDWR)); a sandbox's
 * in-flight list does exactly that when the sandbox stops running. */
#ifndef THAW_RELAY_H
#define THAW_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct relay_totals {
	uint64_t a_to_b; /* bytes written to b, including `pre` */
	uint64_t b_to_a;
};

typedef void (*relay_done_fn)(void *ud, const struct relay_totals *totals);

struct relay_spec {
	int a, b;	    /* connected stream sockets; made non-blocking */
	const void *pre;    /* bytes already read from a, sent to b first */
	size_t pre_len;	    /* (copied: the caller may free them at once) */
	relay_done_fn done; /* required */
	void *ud;
};

/* Starts the relay. On failure nothing was started and `done` is not
 * called: the descriptors are still the caller's. */
int relay_start(const struct relay_spec *spec, struct thaw_err **err);

#endif
