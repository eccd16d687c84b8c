/* process.Process's request messages, decoded and checked (see
 * process_msg.h); the answers are in process_event.c. */
#include "e2b/process_msg.h"

#include <ctype.h>
#include <signal.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"

#define PID_MAX 4194304 /* Linux's pid_max ceiling */

static int only_fields(json_t *obj, const char *what, const char *const *allowed,
		       struct thaw_err **err)
{
	if (!json_is_object(obj))
		return err_set(err, ERR_INVALID, "%s must be an object", what);
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		bool known = false;
		for (size_t i = 0; allowed && allowed[i] && !known; i++)
			known = strcmp(key, allowed[i]) == 0;
		if (!known)
			return err_set(err, ERR_INVALID, "%s has no field \"%.64s\"", what, key);
	}
	return 0;
}

/* A string without NUL (JSON may carry \u0000). */
static bool plain_string(json_t *v)
{
	return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

/* protobuf's JSON takes an integer as a number or a decimal string. */
static int uint_field(json_t *v, const char *what, uint32_t lo, uint32_t hi, uint32_t *out,
		      struct thaw_err **err)
{
	json_int_t n = -1;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = strspn(s, "0123456789");
		if (len && len <= 10 && len == json_string_length(v))
			n = strtoll(s, NULL, 10);
	}
	if (n < (json_int_t)lo || n > (json_int_t)hi)
		return err_set(err, ERR_INVALID, "%s must be an integer from %u to %u", what, lo,
			       hi);
	*out = (uint32_t)n;
	return 0;
}

int e2b_selector_parse(json_t *process, struct e2b_selector *out, struct thaw_err **err)
{
	static const char *const fields[] = { "pid", "tag", NULL };
	if (only_fields(process, "process (a ProcessSelector)", fields, err) < 0)
		return -1;
	json_t *pid = json_object_get(process, "pid"), *tag = json_object_get(process, "tag");
	if (!pid == !tag)
		return err_set(err, ERR_INVALID, "process must name a pid or a tag (one of them)");
	memset(out, 0, sizeof(*out));
	if (pid)
		return uint_field(pid, "process.pid", 1, PID_MAX, &out->pid, err);
	if (!plain_string(tag) || json_string_length(tag) == 0 ||
	    json_string_length(tag) > PROC_TAG_MAX)
		return err_set(err, ERR_INVALID, "process.tag must be 1 to %d characters",
			       PROC_TAG_MAX);
	memcpy(out->tag, json_string_value(tag), json_string_length(tag) + 1);
	return 0;
}

int e2b_proc_request(json_t *msg, const char *const *extra, struct e2b_selector *out,
		     struct thaw_err **err)
{
	const char *fields[8] = { "process" };
	for (size_t i = 0; extra && extra[i] && i + 2 < sizeof(fields) / sizeof(fields[0]); i++)
		fields[i + 1] = extra[i];
	if (only_fields(msg, "the request", fields, err) < 0)
		return -1;
	json_t *process = json_object_get(msg, "process");
	if (!process)
		return err_set(err, ERR_INVALID, "process (a pid or a tag) is required");
	return e2b_selector_parse(process, out, err);
}

/* cmd and args as exec's argv array: {"cmd": [cmd, args...]}. */
static int start_argv(json_t *process, json_t *body, struct thaw_err **err)
{
	json_t *cmd = json_object_get(process, "cmd"), *args = json_object_get(process, "args");
	if (!plain_string(cmd) || json_string_length(cmd) == 0)
		return err_set(err, ERR_INVALID, "process.cmd must be a non-empty string");
	if (args && (!json_is_array(args) || json_array_size(args) >= EXEC_MAX_ARGS))
		return err_set(err, ERR_INVALID,
			       "process.args must be an array of at most %d strings",
			       EXEC_MAX_ARGS - 1);
	json_t *argv = json_array();
	json_array_append(argv, cmd);
	size_t i;
	json_t *a;
	json_array_foreach(args, i, a)
	{
		if (!plain_string(a)) {
			json_decref(argv);
			return err_set(err, ERR_INVALID, "process.args[%zu] must be a string", i);
		}
		json_array_append(argv, a);
	}
	json_object_set_new(body, "cmd", argv);
	return 0;
}

/* The ProcessConfig's fields into exec's body. */
static int start_process(json_t *process, json_t *body, struct thaw_err **err)
{
	static const char *const fields[] = { "cmd", "args", "envs", "cwd", NULL };
	if (!process)
		return err_set(err, ERR_INVALID, "process (a ProcessConfig) is required");
	if (only_fields(process, "process", fields, err) < 0 || start_argv(process, body, err) < 0)
		return -1;
	json_t *envs = json_object_get(process, "envs"), *cwd = json_object_get(process, "cwd");
	if (envs && !json_is_object(envs))
		return err_set(err, ERR_INVALID, "process.envs must be an object of strings");
	if (envs && json_object_size(envs) > ENV_MAX_VARS)
		return err_set(err, ERR_INVALID, "process.envs has more than %d variables",
			       ENV_MAX_VARS);
	if (envs)
		json_object_set(body, "env", envs);
	if (cwd && !plain_string(cwd))
		return err_set(err, ERR_INVALID, "process.cwd must be a string");
	/* protobuf leaves an unset optional string out; "" means the same. */
	if (cwd && json_string_length(cwd))
		json_object_set(body, "cwd", cwd);
	return 0;
}

static int start_pty(json_t *pty, json_t *body, struct thaw_err **err)
{
	uint32_t rows, cols;
	if (e2b_pty_size_parse(pty, &rows, &cols, err) < 0)
		return -1;
	json_object_set_new(body, "pty", json_true());
	json_object_set_new(body, "rows", json_integer(rows));
	json_object_set_new(body, "cols", json_integer(cols));
	return 0;
}

/* The StartRequest as a /v1 exec body, so that exec's own checks (env
 * names, NULs, the frame's size, the user's and tag's shapes) hold for
 * both fronts alike. */
static json_t *start_body(json_t *msg, const char *user, struct thaw_err **err)
{
	static const char *const fields[] = { "process", "pty", "tag", "stdin", NULL };
	if (only_fields(msg, "StartRequest", fields, err) < 0)
		return NULL;
	json_t *body = json_object();
	json_t *tag = json_object_get(msg, "tag"), *in = json_object_get(msg, "stdin");
	json_t *pty = json_object_get(msg, "pty");
	int rc = start_process(json_object_get(msg, "process"), body, err);
	if (rc == 0 && tag && !json_is_string(tag))
		rc = err_set(err, ERR_INVALID, "tag must be a string");
	else if (rc == 0 && tag && json_string_length(tag))
		json_object_set(body, "tag", tag);
	if (rc == 0 && in && !json_is_boolean(in))
		rc = err_set(err, ERR_INVALID, "stdin must be true or false");
	else if (rc == 0 && json_is_true(in))
		json_object_set_new(body, "stdin_open", json_true());
	if (rc == 0 && pty)
		rc = start_pty(pty, body, err);
	if (rc == 0 && user)
		json_object_set_new(body, "user", json_string(user));
	if (rc < 0) {
		json_decref(body);
		return NULL;
	}
	return body;
}

int e2b_start_parse(json_t *msg, const char *user, struct exec_params *out, struct thaw_err **err)
{
	json_t *body = start_body(msg, user, err);
	if (!body)
		return -1;
	int rc = validate_exec(body, out, err);
	json_decref(body);
	if (rc < 0)
		return err_wrap(err, "StartRequest");
	out->timeout_ms = 0;
	out->kill_on_disconnect = false;
	return 0;
}

int e2b_bytes_decode(json_t *v, const char *what, size_t max, struct buf *out,
		     struct thaw_err **err)
{
	if (!json_is_string(v))
		return err_set(err, ERR_INVALID, "%s must be base64 bytes (a string)", what);
	size_t len = json_string_length(v);
	/* invalid_argument, not too_large: the front words that as
	 * resource_exhausted, which the SDK reports as a rate limit. */
	if (len > max / 3 * 4 + 4)
		return err_set(err, ERR_INVALID, "%s is over %zu bytes (send it in parts)", what,
			       max);
	const char *s = json_string_value(v);
	if (len % 4 == 1)
		return err_set(err, ERR_INVALID, "%s is not valid base64", what);
	/* The URL-safe alphabet and unpadded text are protobuf JSON too. */
	_cleanup_buf_ struct buf std = { 0 };
	buf_append(&std, s, len);
	for (size_t i = 0; i < len; i++)
		std.data[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : (uint8_t)s[i];
	while (std.len % 4)
		buf_append(&std, "=", 1);
	size_t before = out->len;
	if (base64_decode((const char *)std.data, std.len, out) < 0) {
		out->len = before;
		return err_set(err, ERR_INVALID, "%s is not valid base64", what);
	}
	return 0;
}

int e2b_input_parse(json_t *input, struct buf *data, struct thaw_err **err)
{
	static const char *const fields[] = { "stdin", "pty", NULL };
	if (!input)
		return err_set(err, ERR_INVALID, "input (stdin or pty bytes) is required");
	if (only_fields(input, "input", fields, err) < 0)
		return -1;
	json_t *in = json_object_get(input, "stdin"), *pty = json_object_get(input, "pty");
	if (!in == !pty)
		return err_set(err, ERR_INVALID, "input must hold stdin or pty (one of them)");
	return e2b_bytes_decode(in ? in : pty, in ? "input.stdin" : "input.pty", PROC_STDIN_MAX,
				data, err);
}

int e2b_signal_parse(json_t *v, int *signo, struct thaw_err **err)
{
	static const struct {
		const char *name;
		int number, signo;
	} sigs[] = { { "SIGNAL_SIGTERM", 15, SIGTERM }, { "SIGNAL_SIGKILL", 9, SIGKILL } };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if ((json_is_string(v) && strcmp(json_string_value(v), sigs[i].name) == 0) ||
		    (json_is_integer(v) && json_integer_value(v) == sigs[i].number)) {
			*signo = sigs[i].signo;
			return 0;
		}
	}
	return err_set(err, ERR_INVALID,
		       "signal must be SIGNAL_SIGTERM (15) or SIGNAL_SIGKILL (9), the values of "
		       "envd's Signal");
}

int e2b_pty_size_parse(json_t *pty, uint32_t *rows, uint32_t *cols, struct thaw_err **err)
{
	static const char *const outer[] = { "size", NULL }, *const inner[] = { "cols", "rows",
										NULL };
	if (only_fields(pty, "pty", outer, err) < 0)
		return -1;
	json_t *size = json_object_get(pty, "size");
	if (!size)
		return err_set(err, ERR_INVALID, "pty.size {cols, rows} is required");
	if (only_fields(size, "pty.size", inner, err) < 0)
		return -1;
	json_t *r = json_object_get(size, "rows"), *c = json_object_get(size, "cols");
	if (!r || !c)
		return err_set(err, ERR_INVALID, "pty.size needs cols and rows");
	if (uint_field(r, "pty.size.rows", 1, 9999, rows, err) < 0 ||
	    uint_field(c, "pty.size.cols", 1, 9999, cols, err) < 0)
		return -1;
	return 0;
}

/* Digits only (strtoul alone would take " 5", "+5" or "-5"). */
static int header_uint(const char *h, const char *name, size_t max_digits, uint64_t *out,
		       struct thaw_err **err)
{
	size_t n = strspn(h, "0123456789");
	if (n == 0 || n > max_digits || h[n])
		return err_set(err, ERR_INVALID, "%s must be a number of at most %zu digits", name,
			       max_digits);
	*out = strtoull(h, NULL, 10);
	return 0;
}

int e2b_keepalive_parse(const char *header, unsigned *seconds, struct thaw_err **err)
{
	uint64_t v = 0;
	if (header && header_uint(header, "Keepalive-Ping-Interval", 6, &v, err) < 0)
		return -1;
	if (v > E2B_KEEPALIVE_MAX_S)
		return err_set(err, ERR_INVALID, "Keepalive-Ping-Interval is at most %d seconds",
			       E2B_KEEPALIVE_MAX_S);
	*seconds = (unsigned)v;
	return 0;
}

int e2b_timeout_parse(const char *header, uint64_t *ms, struct thaw_err **err)
{
	uint64_t v = 0;
	/* The Connect protocol allows at most 10 digits. */
	if (header && header_uint(header, "Connect-Timeout-Ms", 10, &v, err) < 0)
		return -1;
	*ms = v;
	return 0;
}
