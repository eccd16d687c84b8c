/* The shell route's WebSocket bridge (shell_ws.c). */
#ifndef THAW_API_SHELL_WS_H
#define THAW_API_SHELL_WS_H

#include <microhttpd.h>
#include <stddef.h>

/* Starts the bridge thread on the client's upgraded socket ws (pre: what
 * the client sent after its request). The bridge owns ws and urh from
 * then on, even on failure of the command. *agent_end: the socket to
 * give sandbox_exec as its relay_fd; the caller closes it when the exec
 * returns. -1 (nothing started, nothing taken) when it cannot start. */
int shell_ws_start(int ws, struct MHD_UpgradeResponseHandle *urh, const void *pre,
		   size_t pre_len, int *agent_end);

/* The command could not start: msg reaches the client as {"error":msg}. */
void shell_ws_refuse(int agent_end, const char *msg);

#endif
