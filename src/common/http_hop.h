/* Hop-by-hop headers: they describe one connection, so whatever relays
 * HTTP (thawd's port proxy, the control plane's relay to hosts) never
 * passes them on. Host, Content-Length and Authorization are in the list
 * too: each hop sets its own. */
#ifndef THAW_HTTP_HOP_H
#define THAW_HTTP_HOP_H

#include <stdbool.h>
#include <stddef.h>

/* name: len bytes, not NUL-terminated; compared without case. */
bool http_hop_header(const char *name, size_t len);

/* A Sec-WebSocket-Protocol value less its "thaw-key.KEY" items: a browser
 * offers its API key that way (it cannot set Authorization on a
 * WebSocket); httpapi takes it, and nothing behind thaw (a host, a
 * guest's service) may see it. NULL when no item is left, else a new
 * string the caller frees. */
char *http_protocols_strip_keys(const char *value);

#endif
