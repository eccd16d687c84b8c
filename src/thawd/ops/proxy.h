/* Inbound access to a port inside a sandbox: thawd forwards an HTTP
 * request to 172.16.0.2:PORT over a socket opened inside the sandbox's
 * network namespace and hands back the answer. Nothing is published on
 * the host: the owner reaches the service through the authenticated API
 * (ANY /v1/sandboxes/{id}/ports/{port}/path...).
 *
 * Bodies stream both ways (ops/proxy.c): the request's body is fed in as
 * it arrives and the answer's body read out as the guest sends it, each
 * through a socket pair whose kernel buffers are all the memory a
 * transfer holds. A request that asks for a protocol upgrade (WebSocket)
 * goes over a raw socket instead (ops/proxy_upgrade.c). */
#ifndef THAW_PROXY_H
#define THAW_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "core/host.h"
#include "core/sandbox.h"

struct proxy_req {
	const char *method;
	int port;
	const char *path;	    /* starts with '/' */
	const char *query;	    /* without '?', may be NULL */
	const char *const *headers; /* "Name: value", NULL-terminated, already filtered */
	int64_t body_len;	    /* -1: a body of unknown length (chunked); 0: none */
	bool auto_resume;	    /* resume a paused sandbox (also when sb->auto_resume) */
	const char *upgrade;	    /* the Upgrade header's value (sandbox_proxy_upgrade) */
};

/* One proxied HTTP exchange, run by curl on its own thread. Reference
 * counted: the starter holds one; take more with proxy_xfer_ref. */
struct proxy_xfer;

int sandbox_proxy_start(struct host *h, const char *id, const struct proxy_req *req,
			struct proxy_xfer **out, struct thaw_err **err);
/* A piece of the request's body (blocks while the guest is slower);
 * -1 when the transfer has ended and takes no more. */
int proxy_xfer_feed(struct proxy_xfer *x, const void *data, size_t len);
/* The request's body is complete (complete: false, it was cut short:
 * the guest's request is aborted, never sent truncated). */
void proxy_xfer_body_end(struct proxy_xfer *x, bool complete);
/* Waits for the answer's head: status, "Name: value\r\n" lines with the
 * hop-by-hop ones removed (valid while x is) and its Content-Length (-1:
 * none). ERR_GUEST: nothing listens, or no answer. */
int proxy_xfer_head(struct proxy_xfer *x, long *status, const struct buf **headers,
		    int64_t *content_length, struct thaw_err **err);
/* The answer's body: bytes read, 0 at its end, -1 if it broke off. */
ssize_t proxy_xfer_read(struct proxy_xfer *x, void *dst, size_t size);
/* The client went away: the transfer to the guest ends too. */
void proxy_xfer_abort(struct proxy_xfer *x);
struct proxy_xfer *proxy_xfer_ref(struct proxy_xfer *x);
void proxy_xfer_unref(struct proxy_xfer *x);

/* A request that asks for an upgrade (ops/proxy_upgrade.c): the request's
 * head sent over a raw socket to the guest's port, its answer's head read
 * back. With 101 the socket then carries the upgraded protocol. */
struct proxy_upgrade {
	struct host *h;
	struct sandbox *sb; /* a reference */
	int fd;		    /* to the guest's port, in sb's in-flight list */
	int inflight;
	long status;
	struct buf headers; /* the answer's "Name: value\r\n" lines */
	struct buf body;    /* a refusal's body (not 101) */
};

int sandbox_proxy_upgrade(struct host *h, const char *id, const struct proxy_req *req,
			  struct proxy_upgrade **out, struct thaw_err **err);
/* Relays client <-> guest (src/common/relay.h) until either ends, then
 * calls done(ud) and frees u. On failure nothing started: u is still the
 * caller's. */
int proxy_upgrade_relay(struct proxy_upgrade *u, int client, const void *pre, size_t pre_len,
			void (*done)(void *ud), void *ud, struct thaw_err **err);
void proxy_upgrade_free(struct proxy_upgrade *u);

#endif
