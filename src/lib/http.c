/* One HTTP exchange with thawd over the client's curl handle. Bodies are
 * JSON objects both ways; error statuses carry {"error","code"} and
 * become thaw_errors here, in one place. A streamed response (bake) is
 * cut into lines as it arrives so progress reaches the caller live. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#ifndef THAW_VERSION
#define THAW_VERSION "dev"
#endif

/* Far above any legitimate answer (exec output is capped by the server
 * at a few hundred MiB of base64), low enough that a broken server
 * cannot make us swallow all memory. */
#define MAX_BODY ((size_t)1 << 30)
#define MAX_LINE ((size_t)1 << 20)
#define DEFAULT_CONNECT_TIMEOUT_MS 10000L

struct call {
	thaw_client *c;
	const struct tl_request *req;
	bool started;	    /* the status of the response is known */
	bool streaming;	    /* body goes to req->on_line */
	struct tl_buf body; /* the whole body, or the unfinished line */
	thaw_error *stop;   /* why on_write stopped the transfer */
};

/* Hands every complete line in the buffer to on_line; with `final`, also
 * the last one when the stream ended without a newline. */
static int call_lines(struct call *x, bool final)
{
	size_t start = 0;
	while (start < x->body.len) {
		char *line = x->body.data + start;
		char *nl = memchr(line, '\n', x->body.len - start);
		if (!nl && !final)
			break;
		size_t len = nl ? (size_t)(nl - line) : x->body.len - start;
		start += len + (nl ? 1 : 0);
		if (len && x->req->on_line(line, len, x->req->line_ud, &x->stop) < 0)
			return -1;
	}
	memmove(x->body.data, x->body.data + start, x->body.len - start);
	x->body.len -= start;
	x->body.data[x->body.len] = '\0';
	return 0;
}

static size_t call_on_write(char *data, size_t size, size_t nmemb, void *ud)
{
	struct call *x = ud;
	size_t n = size * nmemb;
	if (!x->started) {
		long status = 0;
		curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &status);
		x->streaming = (x->req->on_line || x->req->on_data) && status == x->req->expect;
		x->started = true;
	}
	if (x->streaming && x->req->on_data)
		return x->req->on_data(data, n, x->req->data_ud, &x->stop) < 0 ? 0 : n;
	size_t limit = x->streaming ? MAX_LINE : MAX_BODY;
	if (n > limit - x->body.len) {
		tl_error_set(&x->stop, 0, TL_PROTOCOL, "%s is larger than %zu bytes",
			     x->streaming ? "a streamed line" : "the response", limit);
		return 0;
	}
	tl_buf_append(&x->body, data, n);
	if (x->streaming && call_lines(x, false) < 0)
		return 0;
	return n;
}

static size_t call_on_read(char *out, size_t size, size_t nmemb, void *ud)
{
	struct call *x = ud;
	for (;;) {
		ssize_t n = read(x->req->upload_fd, out, size * nmemb);
		if (n >= 0)
			return (size_t)n;
		if (errno != EINTR) {
			tl_error_set(&x->stop, 0, TL_INVALID, "reading the upload: %s",
				     strerror(errno));
			return CURL_READFUNC_ABORT;
		}
	}
}

static struct curl_slist *call_headers(const thaw_client *c, bool has_body, bool upload)
{
	struct curl_slist *h = NULL;
	if (c->key) {
		char *auth = NULL;
		if (asprintf(&auth, "Authorization: Bearer %s", c->key) < 0)
			abort();
		h = curl_slist_append(h, auth);
		free(auth);
	}
	if (has_body)
		h = curl_slist_append(h, "Content-Type: application/json");
	else if (upload)
		h = curl_slist_append(h, "Content-Type: application/octet-stream");
	/* No 100-continue round trip: thawd reads every body it is sent. */
	h = curl_slist_append(h, "Expect:");
	h = curl_slist_append(h, "Accept: application/json, application/x-ndjson, "
				 "application/octet-stream");
	if (!h)
		abort();
	return h;
}

static void call_setup(struct call *x, const char *url, const char *body,
		       struct curl_slist *headers)
{
	CURL *cu = x->c->curl;
	curl_easy_reset(cu); /* keeps the live connection */
	x->c->curl_err[0] = '\0';
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L); /* a library must not touch signals */
	curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, x->c->curl_err);
	curl_easy_setopt(cu, CURLOPT_USERAGENT, "libthaw/" THAW_VERSION);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, call_on_write);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(cu, CURLOPT_TCP_KEEPALIVE, 1L);
	long connect_ms = x->c->connect_timeout_ms;
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS,
			 connect_ms > 0 ? connect_ms : DEFAULT_CONNECT_TIMEOUT_MS);
	if (x->c->timeout_ms > 0 && !x->req->on_line && !x->req->on_data && !x->req->has_upload)
		curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, x->c->timeout_ms);
	if (x->req->has_upload) {
		curl_easy_setopt(cu, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(cu, CURLOPT_READFUNCTION, call_on_read);
		curl_easy_setopt(cu, CURLOPT_READDATA, x);
		if (x->req->upload_size >= 0)
			curl_easy_setopt(cu, CURLOPT_INFILESIZE_LARGE,
					 (curl_off_t)x->req->upload_size);
	}
	if (body) {
		curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	}
	const char *implied = x->req->has_upload ? "PUT" : body ? "POST" : "GET";
	if (strcmp(x->req->method, implied) != 0)
		curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, x->req->method);
}

static int call_transport_error(const struct call *x, CURLcode rc, thaw_error **err)
{
	const char *why = x->c->curl_err[0] ? x->c->curl_err : curl_easy_strerror(rc);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return tl_error_set(err, 0, TL_TRANSPORT, "%s %s at %s timed out: %s",
				    x->req->method, x->req->path, x->c->url, why);
	return tl_error_set(err, 0, TL_TRANSPORT, "cannot talk to thawd at %s: %s", x->c->url, why);
}

/* A non-success status: the server's {"error","code"} when it sent one. */
static int call_status_error(const struct call *x, long status, thaw_error **err)
{
	json_t *o = x->body.len ? json_loadb(x->body.data, x->body.len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(o, "error"));
	const char *code = json_string_value(json_object_get(o, "code"));
	if (status >= 400 && msg && code) {
		const char *hint = status == 401 && !x->c->key
					   ? "; no API key was found: set THAW_API_KEY or "
					     "make " THAW_DEFAULT_KEY_FILE " readable"
					   : "";
		tl_error_set(err, (int)status, code, "%s%s", msg, hint);
		tl_error_request_id(err, o);
	} else {
		tl_error_set(err, (int)status, TL_PROTOCOL, "%s %s answered HTTP %ld%s",
			     x->req->method, x->req->path, status,
			     status >= 400 ? " without a JSON error" : ", not the expected status");
	}
	json_decref(o);
	return -1;
}

static int call_finish(struct call *x, json_t **resp, thaw_error **err)
{
	long status = 0;
	curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != x->req->expect)
		return call_status_error(x, status, err);
	if (x->streaming && x->req->on_data)
		return 0;
	if (x->streaming)
		return call_lines(x, true) < 0 ? -1 : 0;
	if (!resp || x->body.len == 0)
		return 0;
	/* Text-mode exec output may hold NULs; jansson refuses them by default. */
	json_error_t je;
	json_t *o = json_loadb(x->body.data, x->body.len, JSON_ALLOW_NUL, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return tl_error_set(err, 0, TL_PROTOCOL, "%s %s answered with %s%s", x->req->method,
				    x->req->path, o ? "JSON that is not an object" : "bad JSON: ",
				    o ? "" : je.text);
	}
	*resp = o;
	return 0;
}

int tl_http_call(thaw_client *c, const struct tl_request *req, json_t **resp, thaw_error **err)
{
	struct call x = { .c = c, .req = req };
	/* Full precision: numbers in the caller's metadata go out unchanged. */
	char *body = req->body ? json_dumps(req->body, JSON_COMPACT) : NULL;
	if (req->body && !body)
		abort();
	char *url = NULL;
	if (asprintf(&url, "%s%s", c->url, req->path) < 0)
		abort();
	struct curl_slist *headers = call_headers(c, body != NULL, req->has_upload);
	call_setup(&x, url, body, headers);
	CURLcode rc = curl_easy_perform(c->curl);
	int ret;
	if (rc == CURLE_OK)
		ret = call_finish(&x, resp, &x.stop);
	else
		ret = x.stop ? -1 : call_transport_error(&x, rc, &x.stop);
	if (ret < 0 && err && !*err)
		*err = x.stop;
	else
		thaw_error_free(x.stop);
	curl_slist_free_all(headers);
	free(url);
	free(body);
	tl_buf_free(&x.body);
	return ret;
}

static int list_parse(const json_t *resp, const char *key, tl_item_parse_fn parse,
		      tl_item_free_fn free_item, void ***out, size_t *n, thaw_error **err)
{
	const json_t *arr = json_object_get(resp, key);
	if (!json_is_array(arr))
		return tl_error_set(err, 0, TL_PROTOCOL, "the answer has no \"%s\" array", key);
	size_t count = json_array_size(arr);
	void **list = count ? tl_xcalloc(count, sizeof(*list)) : NULL;
	for (size_t i = 0; i < count; i++) {
		if (parse(json_array_get(arr, i), &list[i], err) < 0) {
			for (size_t k = 0; k < i; k++)
				free_item(list[k]);
			free(list);
			return -1;
		}
	}
	*out = list;
	*n = count;
	return 0;
}

int tl_list_call(thaw_client *c, const char *path, const char *key, tl_item_parse_fn parse,
		 tl_item_free_fn free_item, void ***out, size_t *n, thaw_error **err)
{
	struct tl_request req = { .method = "GET", .path = path, .expect = 200 };
	json_t *resp = NULL;
	if (tl_http_call(c, &req, &resp, err) < 0)
		return -1;
	int rc = list_parse(resp, key, parse, free_item, out, n, err);
	json_decref(resp);
	return rc;
}
