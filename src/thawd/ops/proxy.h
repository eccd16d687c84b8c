/* Inbound access to a port inside a sandbox: thawd forwards an HTTP
 * request to 172.16.0.2:PORT over a socket opened inside the sandbox's
 * network namespace and hands back the answer. Nothing is published on
 * the host: the owner reaches the service through the authenticated API
 * (GET /v1/sandboxes/{id}/ports/{port}/path...). */
#ifndef THAW_PROXY_H
#define THAW_PROXY_H

#include <stddef.h>

#include "buf.h"
#include "core/host.h"

#define PROXY_MAX_RESPONSE (64u << 20)

struct proxy_req {
	const char *method;
	int port;
	const char *path;	   /* starts with '/' */
	const char *query;	   /* without '?', may be NULL */
	const char *const *headers; /* "Name: value", NULL-terminated, already filtered */
	const void *body;
	size_t body_len;
};

struct proxy_resp {
	long status;
	struct buf headers; /* "Name: value\n" lines, hop-by-hop ones removed */
	struct buf body;
};

/* ERR_NOT_FOUND: no such sandbox; ERR_CONFLICT: not running;
 * ERR_GUEST: nothing answers on that port or the answer is broken;
 * ERR_TOO_LARGE: the answer exceeds PROXY_MAX_RESPONSE. */
int sandbox_proxy(struct host *h, const char *id, const struct proxy_req *req,
		  struct proxy_resp *out, struct thaw_err **err);
void proxy_resp_free(struct proxy_resp *r);

#endif
