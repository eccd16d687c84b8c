/* Relaying a request to a host and its answer back, as it comes: the
 * host's answer is streamed through a pipe into the client's response
 * (MHD reads the pipe, libcurl writes it on a thread of its own), so an
 * exec that prints for an hour or a 4 GiB file download never sits in
 * the control plane's memory; a client that goes away ends the transfer
 * to the host. The request body is the one the API layer took (in memory,
 * or a temp file for uploads). */
#ifndef THAW_CONTROL_RELAY_H
#define THAW_CONTROL_RELAY_H

#include "hostkey.h"
#include "httpapi/httpapi.h"

struct relay_target {
	const char *address;  /* the host's HOST:PORT */
	const char *path_query; /* "/v1/sandboxes/ID/exec?x=y", as the client sent it */
	char credential[HOST_KEY_LEN + 1]; /* the host's key (hostkey.h); "": none */
	const char *on_behalf_of; /* the user key's name (NULL: an admin asks) */
	const char *idempotency_key; /* sent as Idempotency-Key (NULL: none) */
};

/* Answers r with what the host answers (status, headers but hop-by-hop
 * ones, body streamed); 502 when the host cannot be reached, 504 when it
 * does not answer within the relay's deadline. */
enum MHD_Result relay_request(struct api_req *r, const struct relay_target *t);

/* The same for a route whose body is streamed (max_body
 * API_STREAM_BODY, httpapi.h): called at the request's head, it starts
 * the transfer and takes the body piece by piece as it arrives (a
 * socket's buffers are all it holds), then answers once the host has.
 * Every end-to-end header of the client's goes on (the port proxy: a
 * service in the guest reads them). A client that goes before its body
 * ends aborts the transfer: the host never takes part of a body for a
 * whole one. */
enum MHD_Result relay_request_streamed(struct api_req *r, const struct relay_target *t);

/* "Name: value" lines (\n or \r\n ended) added to resp, hop-by-hop ones
 * left out: a host's answer headers, or a 101's. */
void relay_add_header_lines(struct MHD_Response *resp, const char *text, size_t len);

/* The same, but the whole answer (at most RELAY_CALL_MAX) into *out, for the
 * control plane's own use (create, delete, state changes): the status,
 * or 0 when the host could not be reached (*err says why). */
struct buf;
#define RELAY_CALL_MAX (16u << 20)
long relay_call(const struct relay_target *t, const char *method, const char *body,
		size_t body_len, struct buf *out, struct thaw_err **err);

#endif
