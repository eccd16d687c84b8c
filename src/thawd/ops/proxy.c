#include "ops/proxy.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "core/registry.h"
#include "core/sandbox.h"
#include "guestnet.h"
#include "http_hop.h"
#include "net/slot.h"

#define PROXY_TIMEOUT_S 300

struct transfer {
	struct sandbox *sb;
	struct proxy_resp *out;
	int inflight;	/* slot in the sandbox's in-flight list, -1 if none */
	bool too_large;
	struct thaw_err *sock_err;
};

/* curl's socket comes from inside the sandbox's namespace and joins the
 * sandbox's in-flight list, so a delete cuts it like an exec. */
static curl_socket_t open_in_slot(void *ud, curlsocktype purpose, struct curl_sockaddr *addr)
{
	(void)purpose;
	struct transfer *t = ud;
	int fd = -1;
	if (netslot_socket(t->sb->slot, addr->family, addr->socktype, &fd, &t->sock_err) < 0)
		return CURL_SOCKET_BAD;
	t->inflight = sandbox_inflight_add(t->sb, fd, &t->sock_err);
	if (t->inflight < 0) {
		close(fd);
		return CURL_SOCKET_BAD;
	}
	return fd;
}

/* Leave the in-flight list before the fd number can be reused. */
static int close_in_slot(void *ud, curl_socket_t fd)
{
	struct transfer *t = ud;
	if (t->inflight >= 0) {
		sandbox_inflight_del(t->sb, t->inflight);
		t->inflight = -1;
	}
	return close(fd);
}

static size_t take_body(char *data, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	size_t len = size * n;
	if (t->out->body.len + len > PROXY_MAX_RESPONSE) {
		t->too_large = true;
		return 0; /* aborts the transfer */
	}
	buf_append(&t->out->body, data, len);
	return len;
}

static size_t take_header(char *data, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	size_t len = size * n;
	const char *colon = memchr(data, ':', len);
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
		buf_reset(&t->out->headers); /* a new response (after a 1xx) */
	else if (colon && !http_hop_header(data, (size_t)(colon - data)))
		buf_append(&t->out->headers, data, len);
	return len;
}

static CURL *prepare(const struct proxy_req *req, struct transfer *t, struct curl_slist **hdrs)
{
	CURL *c = curl_easy_init();
	if (!c)
		return NULL;
	_cleanup_free_ char *url = xasprintf("http://" GUESTNET_GUEST_IP ":%d%s%s%s", req->port,
					     req->path, req->query ? "?" : "",
					     req->query ? req->query : "");
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		*hdrs = curl_slist_append(*hdrs, req->headers[i]);
	/* curl would add these on its own; the guest's service gets neither. */
	*hdrs = curl_slist_append(*hdrs, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(req->method, "HEAD") == 0 ? 1L : 0L);
	if (req->body_len) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_in_slot);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, t);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, close_in_slot);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, t);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, take_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, take_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)PROXY_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never an environment proxy */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	return c;
}

static int run(struct sandbox *sb, const struct proxy_req *req, struct proxy_resp *out,
	       struct thaw_err **err)
{
	struct transfer t = { .sb = sb, .out = out, .inflight = -1 };
	struct curl_slist *hdrs = NULL;
	CURL *c = prepare(req, &t, &hdrs);
	if (!c)
		return err_set(err, ERR_INTERNAL, "cannot create an HTTP client");
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	if (t.inflight >= 0)
		sandbox_inflight_del(sb, t.inflight);
	int ret = 0;
	if (t.sock_err) {
		ret = err_set(err, t.sock_err->code, "%s", t.sock_err->msg);
	} else if (t.too_large) {
		ret = err_set(err, ERR_TOO_LARGE, "the answer from port %d is larger than %u bytes",
			      req->port, PROXY_MAX_RESPONSE);
	} else if (rc != CURLE_OK) {
		ret = err_set(err, ERR_GUEST, "port %d in sandbox %s: %s", req->port, sb->id,
			      rc == CURLE_COULDNT_CONNECT ? "nothing listens there" :
							    curl_easy_strerror(rc));
	}
	err_free(t.sock_err);
	return ret;
}

int sandbox_proxy(struct host *h, const char *id, const struct proxy_req *req,
		  struct proxy_resp *out, struct thaw_err **err)
{
	memset(out, 0, sizeof(*out));
	struct sandbox *sb = registry_get(h, id);
	if (!sb)
		return err_set(err, ERR_NOT_FOUND, "sandbox %s does not exist", id);
	pthread_mutex_lock(&sb->lock);
	enum sb_state state = sb->state;
	pthread_mutex_unlock(&sb->lock);
	int rc = state == SB_RUNNING ? run(sb, req, out, err) :
				       err_set(err, ERR_CONFLICT, "sandbox %s is %s", id,
					       sb_state_name(state));
	sandbox_unref(h, sb);
	if (rc < 0)
		proxy_resp_free(out);
	return rc;
}

void proxy_resp_free(struct proxy_resp *r)
{
	buf_free(&r->headers);
	buf_free(&r->body);
}
