/* Raw TCP to a port inside a sandbox: thawd connects to the guest
 * (GUESTNET_GUEST_IP:port) from inside the sandbox's network namespace
 * and relays bytes between that socket and a client's (an upgraded API
 * connection, or a connection accepted on a published host port).
 *
 * A tunnel joins its sandbox's in-flight list, so delete, pause and
 * thawd's shutdown cut it; it is counted in sb->open_tunnels while open.
 * Clients reconnect after a resume: a new tunnel reaches the new VM. */
#ifndef THAW_TUNNEL_H
#define THAW_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/host.h"
#include "err.h"

struct tunnel;

/* Called once when a started tunnel has ended; the client socket is the
 * callee's from then on (close it, or hand it back to libmicrohttpd). */
typedef void (*tunnel_closed_fn)(void *ud, int client_fd);

/* Connects to port in sandbox id (resumed first when it is paused and
 * auto_resume or its own setting says so). ERR_NOT_FOUND: no such
 * sandbox; ERR_CONFLICT: not running; ERR_GUEST: nothing listens there
 * (or the guest does not answer within a few seconds). *out is owned:
 * hand it to tunnel_start or tunnel_abort. */
int tunnel_open(struct host *h, const char *id, int port, bool auto_resume, struct tunnel **out,
		struct thaw_err **err);

/* Relays between client_fd and the guest, `pre` (bytes already read from
 * the client) first. Takes t in every case. On failure closed() is not
 * called and client_fd is still the caller's. */
int tunnel_start(struct tunnel *t, int client_fd, const void *pre, size_t pre_len,
		 tunnel_closed_fn closed, void *ud, struct thaw_err **err);

/* Gives up a tunnel that was opened and never started. */
void tunnel_abort(struct tunnel *t);

#endif
