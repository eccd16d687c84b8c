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

#endif
