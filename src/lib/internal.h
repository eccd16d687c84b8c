/* libthaw's private declarations. libthaw is installed on its own, so it
 * uses only libc, libcurl and jansson, never src/common or src/thawd.
 * Internal names start with tl_ ("thaw library"): they are hidden in the
 * shared library but global in libthaw.a, and the prefix keeps them from
 * clashing with an application's symbols or with src/common's. */
#ifndef THAW_LIB_INTERNAL_H
#define THAW_LIB_INTERNAL_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "thaw.h"

struct thaw_client {
	CURL *curl; /* one easy handle per client: its connection is reused */
	char *url;  /* base URL without a trailing slash */
	char *key;  /* NULL when no key was found */
	long timeout_ms;
	long connect_timeout_ms;
	char curl_err[CURL_ERROR_SIZE];
};

struct thaw_error {
	int http_status;
	char *code;
	char *message;
	char *request_id; /* the server's, from the error body; NULL if none */
};

/* Client-side codes (see thaw_error_code in thaw.h). */
#define TL_TRANSPORT "transport"
#define TL_PROTOCOL "protocol"
#define TL_INVALID "invalid_request"

/* error.c: fills *err unless err is NULL or already set (the first cause
 * wins). Always returns -1. */
int tl_error_set(thaw_error **err, int http_status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Notes the request id an error body named (o: the body, may be NULL)
 * on *err when it has none yet. */
void tl_error_request_id(thaw_error **err, const json_t *o);

/* mem.c: allocation failure aborts (see thaw.h). */
void *tl_xmalloc(size_t n);
void *tl_xcalloc(size_t n, size_t size);
void *tl_xrealloc(void *p, size_t n);
char *tl_xstrdup(const char *s);
char *tl_xstrndup(const char *s, size_t n);

/* A growable byte string, always NUL-terminated once anything was added. */
struct tl_buf {
	char *data;
	size_t len;
	size_t cap;
};

void tl_buf_append(struct tl_buf *b, const void *data, size_t n);
void tl_buf_free(struct tl_buf *b);

/* dial.c: a TCP connection to the client's thawd (http:// URLs only;
 * what: the feature, for the error), or -1. */
int tl_dial(const thaw_client *c, const char *what, thaw_error **err);

/* base64.c: standard alphabet with padding. */
char *tl_base64_encode(const void *data, size_t len);
/* Decodes into a new NUL-terminated buffer; -1 on malformed input. */
int tl_base64_decode(const char *in, size_t len, char **out, size_t *out_len);

/* json.c: reading the server's objects. */
/* A string member copied, or NULL when absent, null or not a string. */
char *tl_json_strdup(const json_t *obj, const char *key);
/* A required string member copied; a protocol error if missing. */
int tl_json_need_str(const json_t *obj, const char *key, const char *what, char **out,
		     thaw_error **err);
/* An integer member that fits an int; -1 when absent or not one. */
int tl_json_int(const json_t *obj, const char *key, int *out);
/* The same, with 0 for anything else. */
int tl_json_int_or_0(const json_t *obj, const char *key);
/* An object or array member as compact JSON, or NULL when absent or null. */
char *tl_json_dump_member(const json_t *obj, const char *key);
/* The whole value as compact JSON, order preserved, for handing server
 * objects to the caller. 15 digits print 20.1 as "20.1", not as
 * "20.100000000000001", and lose nothing the server sent (it writes at
 * most 17, and in practice 6). */
char *tl_json_dump(const json_t *v);
/* A new JSON string from caller input; invalid UTF-8 is an error naming
 * what. */
int tl_json_from_str(const char *s, const char *what, json_t **out, thaw_error **err);
/* Checks that id can be put in a URL path as one segment. */
/* "KEY=VALUE" strings to {"KEY": "VALUE"} (a later duplicate wins); the
 * server checks the names. */
int tl_env_json(const char *const *env, json_t **out, thaw_error **err);
/* A policy's JSON body (internet, allow, deny); NULL p: the default. */
int tl_network_json(const thaw_network_policy *p, json_t **out, thaw_error **err);

int tl_check_id(const char *id, const char *what, thaw_error **err);

/* http.c */
/* Handles one line of a streamed body (without its newline); returns 0,
 * or -1 after setting *err, which stops the transfer. */
typedef int (*tl_line_fn)(const char *line, size_t len, void *ud, thaw_error **err);

struct tl_request {
	const char *method;
	const char *path;   /* starts with '/', already safe for a URL */
	const json_t *body; /* NULL: no body */
	long expect;	    /* the status that means success */
	/* When set, a response with the expected status is handed over line
	 * by line as it arrives instead of being parsed as one object, and
	 * the client's overall timeout does not apply. */
	tl_line_fn on_line;
	void *line_ud;
	/* When set, a response with the expected status goes to on_data as
	 * raw bytes as they arrive (no client timeout, like on_line). */
	int (*on_data)(const char *data, size_t len, void *ud, thaw_error **err);
	void *data_ud;
	/* When set, the body is read from upload_fd (PUT, not JSON):
	 * upload_size bytes, or to its end with chunked encoding when -1. */
	bool has_upload;
	int upload_fd;
	long long upload_size;
};

/* Performs the request. On success, *resp (when resp is not NULL and the
 * response carried a JSON body) is the parsed object, owned by the
 * caller; streamed responses leave it NULL. Error responses become
 * thaw_errors carrying the server's status, code and message. */
int tl_http_call(thaw_client *c, const struct tl_request *req, json_t **resp, thaw_error **err);

/* GET path, whose answer is {key: [objects]}; each object becomes an
 * item through parse. On failure the items made so far are freed. */
typedef int (*tl_item_parse_fn)(const json_t *o, void **out, thaw_error **err);
typedef void (*tl_item_free_fn)(void *item);
int tl_list_call(thaw_client *c, const char *path, const char *key, tl_item_parse_fn parse,
		 tl_item_free_fn free_item, void ***out, size_t *n, thaw_error **err);

/* exec.c: the events of an exec stream (also a process's, process.c),
 * one line at a time: output to on_output, the exit into result. */
struct tl_stream_exec {
	thaw_output_fn on_output;
	void *ud;
	thaw_exec_result *result; /* set by the exit event */
	bool finished;
};
int tl_stream_on_line(const char *line, size_t len, void *ud, thaw_error **err);

/* sandbox.c and template.c: one server object to a struct. */
int tl_sandbox_parse(const json_t *o, thaw_sandbox **out, thaw_error **err);
int tl_template_parse(const json_t *o, thaw_template **out, thaw_error **err);
/* Performs req, whose answer is one sandbox object; out may be NULL. */
int tl_sandbox_call(thaw_client *c, const struct tl_request *req, thaw_sandbox **out,
		    thaw_error **err);

#endif
