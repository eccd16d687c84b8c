/* GET /v1/sandboxes/{id}/tunnel/{port}[?auto_resume=true] with
 * "Connection: Upgrade" and "Upgrade: thaw-tunnel": raw TCP to a port in
 * the sandbox. thawd connects to the guest first and answers
 * "101 Switching Protocols" only when that worked, so a client learns of
 * a closed port as a JSON error; after the 101 the connection carries the
 * service's bytes both ways (ops/tunnel.c), half-close passed on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/validate.h"
#include "log.h"
#include "ops/tunnel.h"

#define TUNNEL_PROTOCOL "thaw-tunnel"
#define HTTP_UPGRADE_REQUIRED 426

/* The relay has ended: libmicrohttpd owns the socket and closes it. */
static void close_upgraded(void *ud, int client_fd)
{
	(void)client_fd;
	MHD_upgrade_action(ud, MHD_UPGRADE_ACTION_CLOSE);
}

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra,
		       size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	(void)conn;
	(void)req_cls;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (tunnel_start(cls, sock, extra, extra_len, close_upgraded, urh, &err) < 0) {
		log_warn("sandbox.tunnel", "error=\"%s\"", err_msg(err));
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	}
}

enum MHD_Result api_sandbox_tunnel(struct api_req *r)
{
	int port = port_from_text(r->params[1]);
	if (port < 0)
		return api_reply_fail(r, ERR_INVALID, "\"%.16s\" is not a port (1 to 65535)",
				      r->params[1]);
	if (!api_header_has(r, "Connection", "upgrade") ||
	    !api_header_has(r, "Upgrade", TUNNEL_PROTOCOL))
		return api_reply_json(
			r, HTTP_UPGRADE_REQUIRED,
			json_pack(
				"{s:s,s:s}", "error",
				"a tunnel needs Connection: Upgrade and Upgrade: " TUNNEL_PROTOCOL,
				"code", err_code_name(ERR_INVALID)));
	bool auto_resume;
	enum MHD_Result res;
	if (api_query_bool(r, "auto_resume", false, &auto_resume, &res) < 0)
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	struct tunnel *t = NULL;
	if (tunnel_open(api_host(r), r->params[0], port, auto_resume, &t, &err) < 0)
		return api_reply_error(r, err);
	struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgrade, t);
	if (!resp) {
		tunnel_abort(t);
		return api_reply_fail(r, ERR_INTERNAL, "cannot upgrade this connection");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, TUNNEL_PROTOCOL);
	return api_queue(r, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
}
