/* thaw_client: where thawd is, the key to show it, and one curl handle.
 * Configuration is resolved once, at construction, so every request of a
 * client goes to the same place with the same key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_KEY_FILE 4096

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* A copy of s[0..n) without surrounding whitespace, NULL when nothing is left. */
static char *trim_dup(const char *s, size_t n)
{
	while (n && strchr(" \t\r\n", s[0]))
		s++, n--;
	while (n && strchr(" \t\r\n", s[n - 1]))
		n--;
	return n ? tl_xstrndup(s, n) : NULL;
}

/* Reads a key file. A file the caller named must exist and hold a key;
 * the default file may be absent or unreadable (the key is then NULL). */
static int key_from_file(const char *path, bool named, char **out, thaw_error **err)
{
	*out = NULL;
	FILE *f = fopen(path, "re");
	if (!f && !named)
		return 0;
	if (!f)
		return tl_error_set(err, 0, TL_INVALID, "cannot read key file %s: %s", path,
				    strerror(errno));
	char text[MAX_KEY_FILE + 1];
	size_t n = fread(text, 1, sizeof(text), f);
	bool failed = ferror(f);
	fclose(f);
	if (failed || n > MAX_KEY_FILE || memchr(text, '\0', n))
		return tl_error_set(err, 0, TL_INVALID, "key file %s does not hold a key", path);
	*out = trim_dup(text, n);
	explicit_bzero(text, sizeof(text));
	if (!*out && named)
		return tl_error_set(err, 0, TL_INVALID, "key file %s is empty", path);
	return 0;
}

static int client_key(const thaw_client_options *o, char **out, thaw_error **err)
{
	const char *env = getenv("THAW_API_KEY");
	char *key = NULL;
	if (o->api_key) {
		key = trim_dup(o->api_key, strlen(o->api_key));
	} else if (o->api_key_file) {
		if (key_from_file(o->api_key_file, true, &key, err) < 0)
			return -1;
	} else if (env && *env) {
		key = trim_dup(env, strlen(env));
	} else if (key_from_file(THAW_DEFAULT_KEY_FILE, false, &key, err) < 0) {
		return -1;
	}
	if (o->api_key && !key)
		return tl_error_set(err, 0, TL_INVALID, "the API key is empty");
	/* The key goes into a header line: a newline would forge headers. */
	if (key && has_control(key)) {
		free(key);
		return tl_error_set(err, 0, TL_INVALID, "the API key contains control characters");
	}
	*out = key;
	return 0;
}

static int client_url(const thaw_client_options *o, char **out, thaw_error **err)
{
	const char *env = getenv("THAW_API_URL");
	const char *url = o->api_url ? o->api_url : env && *env ? env : THAW_DEFAULT_API_URL;
	size_t n = strlen(url);
	while (n && url[n - 1] == '/')
		n--;
	if (n == 0)
		return tl_error_set(err, 0, TL_INVALID, "the API URL is empty");
	char *copy = tl_xstrndup(url, n);
	if (has_control(copy) || strchr(copy, ' ')) {
		free(copy);
		return tl_error_set(err, 0, TL_INVALID,
				    "the API URL contains spaces or control characters");
	}
	*out = copy;
	return 0;
}

THAW_API int thaw_client_new(const thaw_client_options *opts, thaw_client **out, thaw_error **err)
{
	static const thaw_client_options defaults = { 0 };
	const thaw_client_options *o = opts ? opts : &defaults;
	char *url = NULL, *key = NULL;
	if (client_url(o, &url, err) < 0 || client_key(o, &key, err) < 0) {
		free(url);
		return -1;
	}
	/* Reference counted and thread-safe since libcurl 7.84. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(url);
		free(key);
		return tl_error_set(err, 0, TL_TRANSPORT, "cannot initialise libcurl");
	}
	thaw_client *c = tl_xcalloc(1, sizeof(*c));
	c->curl = curl_easy_init();
	if (!c->curl)
		abort();
	c->url = url;
	c->key = key;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 0;
	c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 0;
	*out = c;
	return 0;
}

THAW_API void thaw_client_free(thaw_client *client)
{
	if (!client)
		return;
	curl_easy_cleanup(client->curl);
	if (client->key)
		explicit_bzero(client->key, strlen(client->key));
	free(client->key);
	free(client->url);
	free(client);
	curl_global_cleanup();
}

THAW_API const char *thaw_client_url(const thaw_client *client)
{
	return client->url;
}

THAW_API int thaw_info(thaw_client *client, char **out, thaw_error **err)
{
	struct tl_request req = { .method = "GET", .path = "/v1/info", .expect = 200 };
	json_t *resp = NULL;
	if (tl_http_call(client, &req, &resp, err) < 0)
		return -1;
	char *text = json_is_object(resp) ? json_dumps(resp, JSON_COMPACT) : NULL;
	json_decref(resp);
	if (!text)
		return tl_error_set(err, 0, TL_PROTOCOL, "/v1/info did not answer a JSON object");
	*out = text;
	return 0;
}

THAW_API int thaw_health(thaw_client *client, thaw_error **err)
{
	struct tl_request req = { .method = "GET", .path = "/healthz", .expect = 200 };
	json_t *resp = NULL;
	if (tl_http_call(client, &req, &resp, err) < 0)
		return -1;
	const char *status = json_string_value(json_object_get(resp, "status"));
	int rc = 0;
	if (!status || strcmp(status, "ok") != 0)
		rc = tl_error_set(err, 0, TL_PROTOCOL, "thawd at %s is not healthy: status %s",
				  client->url, status ? status : "missing");
	json_decref(resp);
	return rc;
}
