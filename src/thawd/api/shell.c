/* GET /v1/sandboxes/{id}/shell?rows=R&cols=C[&cmd=SHELL][&auto_resume=true]
 * with "Connection: Upgrade" and "Upgrade: thaw-shell": an interactive
 * command on a pseudo-terminal in the sandbox. After "101 Switching
 * Protocols" the connection carries the guest agent's own frames
 * (common/proto.h): the client sends STDIN (keystrokes; ^C is a byte
 * like any other and becomes SIGINT in the guest) and RESIZE; it receives
 * STARTED, OUTPUT, and finally EXIT (or ERROR). thawd relays and checks
 * them; closing the connection ends the command.
 *
 * With "Upgrade: websocket" instead (a browser's terminal, the console's)
 * the same command runs behind a WebSocket (RFC 6455; api/shell_ws.c
 * translates): binary messages are keystrokes, a text message
 * {"resize":{"rows":R,"cols":C}} resizes, output comes back as binary
 * messages, and the command's end as {"exit":code} and a close. A browser
 * cannot set Authorization on a WebSocket, so httpapi also takes the key
 * from a Sec-WebSocket-Protocol item "thaw-key.KEY" on upgrades; the
 * answer selects the "thaw-shell" item. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <unistd.h>

#include "api/api.h"
#include "api/shell_ws.h"
#include "api/stream.h"
#include "api/validate.h"
#include "buf.h"
#include "core/sandbox.h"
#include "log.h"
#include "ops/ops.h"
#include "ws.h"

#define SHELL_PROTOCOL "thaw-shell"
#define WS_SUBPROTOCOL "thaw-shell" /* what a WebSocket client offers */
#define DEFAULT_SHELL "if command -v bash >/dev/null; then exec bash -l; else exec sh -l; fi"

struct shell_job {
	struct host *h;
	char id[32];
	char *cmd;
	char **env; /* the base environment under the sandbox's */
	uint32_t rows, cols;
	bool resume;
	bool ws; /* the WebSocket variant */
	struct MHD_UpgradeResponseHandle *urh;
	int sock;
	uint8_t *pre;
	size_t pre_len;
};

static void job_free(struct shell_job *j)
{
	free(j->cmd);
	exec_env_free(j->env);
	free(j->pre);
	free(j);
}

static void *shell_thread(void *arg)
{
	struct shell_job *j = arg;
	const char *argv[] = { "/bin/sh", "-c", j->cmd, NULL };
	struct agent_exec_req req = { .argv = argv,
				      .env = (const char *const *)j->env,
				      .cwd = "/root",
				      .has_stdin = true,
				      .pty = true,
				      .rows = j->rows,
				      .cols = j->cols,
				      .relay = true,
				      .relay_fd = j->sock,
				      .relay_pre = j->pre,
				      .relay_pre_len = j->pre_len,
				      /* The connection is the terminal: closing it
				       * ends the shell, as hanging up does. */
				      .kill_on_disconnect = true };
	struct agent_exec_result res;
	_cleanup_err_ struct thaw_err *err = NULL;
	int agent_end = -1;
	if (j->ws) {
		/* The bridge owns the client's socket from here. */
		if (shell_ws_start(j->sock, j->urh, j->pre, j->pre_len, &agent_end) < 0) {
			api_upgrade_close(j->urh);
			job_free(j);
			return NULL;
		}
		req.relay_fd = agent_end;
		req.relay_pre = NULL;
		req.relay_pre_len = 0;
	}
	if (sandbox_exec(j->h, j->id, &req, j->resume, &res, &err) == 0) {
		log_info("sandbox.shell_done", "id=%s exit_code=%d", j->id, res.exit_code);
		agent_exec_result_free(&res);
	} else {
		log_info("sandbox.shell_done", "id=%s error=\"%s\"", j->id, err_msg(err));
		if (j->ws)
			shell_ws_refuse(agent_end, err_msg(err));
	}
	if (j->ws)
		close(agent_end);
	else
		api_upgrade_close(j->urh);
	job_free(j);
	return NULL;
}

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra,
		       size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	(void)conn;
	(void)req_cls;
	struct shell_job *j = cls;
	j->sock = sock;
	j->urh = urh;
	api_upgrade_held();
	if (extra_len) {
		j->pre = xmalloc(extra_len);
		memcpy(j->pre, extra, extra_len);
		j->pre_len = extra_len;
	}
	if (api_thread_detached(shell_thread, j) < 0) {
		api_upgrade_close(urh);
		job_free(j);
	}
}

static int size_arg(struct api_req *r, const char *name, uint32_t dflt, uint32_t *out)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
	*out = dflt;
	if (!v)
		return 0;
	char *end;
	long n = strtol(v, &end, 10);
	if (!*v || *end || n < 1 || n > 1000)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

/* RFC 6455 4.2.1: version 13 and a key; the accept value into accept. */
static int ws_handshake_check(struct api_req *r, char accept[WS_ACCEPT_LEN + 1],
			      enum MHD_Result *res)
{
	const char *ver =
		MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-WebSocket-Version");
	const char *key =
		MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
	if (!ver || strcmp(ver, "13") != 0) {
		*res = api_reply_fail(r, ERR_INVALID, "Sec-WebSocket-Version must be 13");
		return -1;
	}
	if (ws_accept(key, accept) < 0) {
		*res = api_reply_fail(r, ERR_INVALID,
				      "Sec-WebSocket-Key must be the base64 of 16 bytes");
		return -1;
	}
	return 0;
}

enum MHD_Result api_sandbox_shell(struct api_req *r)
{
	enum MHD_Result res;
	if (!api_check_sandbox_id(r, &res))
		return res;
	bool ws = api_header_has(r, "Upgrade", "websocket");
	if (!api_header_has(r, "Connection", "upgrade") ||
	    (!ws && !api_header_has(r, "Upgrade", SHELL_PROTOCOL)))
		return api_reply_fail(
			r, ERR_INVALID,
			"a shell needs Connection: Upgrade and Upgrade: " SHELL_PROTOCOL
			" (or websocket)");
	char accept[WS_ACCEPT_LEN + 1];
	if (ws && ws_handshake_check(r, accept, &res) < 0)
		return res;
	uint32_t rows, cols;
	if (size_arg(r, "rows", 24, &rows) < 0 || size_arg(r, "cols", 80, &cols) < 0)
		return api_reply_fail(r, ERR_INVALID, "rows and cols must be from 1 to 1000");
	char cmd[8192];
	bool auto_resume;
	int has_cmd = api_query(r, "cmd", cmd, sizeof(cmd), &res);
	if (has_cmd < 0 || api_query_bool(r, "auto_resume", false, &auto_resume, &res) < 0)
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	json_t *sbenv = NULL;
	if (sandbox_exec_check(api_host(r), r->params[0], auto_resume, &err) < 0 ||
	    sandbox_env_get(api_host(r), r->params[0], &sbenv, &err) < 0)
		return api_reply_error(r, err);
	struct shell_job *j = xcalloc(1, sizeof(*j));
	j->env = exec_env_default(sbenv);
	json_decref(sbenv);
	j->h = api_host(r);
	snprintf(j->id, sizeof(j->id), "%s", r->params[0]);
	j->cmd = xstrdup(has_cmd && *cmd ? cmd : DEFAULT_SHELL);
	j->rows = rows;
	j->cols = cols;
	j->resume = auto_resume;
	j->ws = ws;
	struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgrade, j);
	if (!resp) {
		job_free(j);
		return api_reply_fail(r, ERR_INTERNAL, "cannot upgrade this connection");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, ws ? "websocket" : SHELL_PROTOCOL);
	if (ws) {
		MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
		if (api_header_has(r, "Sec-WebSocket-Protocol", WS_SUBPROTOCOL))
			MHD_add_response_header(resp, "Sec-WebSocket-Protocol", WS_SUBPROTOCOL);
	}
	return api_queue(r, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
}
