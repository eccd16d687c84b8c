/* The process table's request bodies, and the fields exec takes for it
 * (tag, user, kill_on_disconnect, stdin_open, pty). Pure functions of a
 * JSON value, like validate.c. */
#include <ctype.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/validate.h"
#include "proto.h"
#include "utf8.h"

static int opt_bool(json_t *body, const char *key, bool *out, struct thaw_err **err)
{
	json_t *v = json_object_get(body, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return err_set(err, ERR_INVALID, "%s must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

static int opt_uint(json_t *body, const char *key, json_int_t lo, json_int_t hi, uint32_t *out,
		    struct thaw_err **err)
{
	json_t *v = json_object_get(body, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return err_set(err, ERR_INVALID, "%s must be an integer from %lld to %lld", key,
			       (long long)lo, (long long)hi);
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

/* A user name as useradd takes it: letters, digits, '_', '-', '.', not
 * starting with '-'. */
static bool valid_user(const char *s, size_t len)
{
	if (len == 0 || len > 32 || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_-.", s[i]))
			return false;
	return true;
}

static bool valid_tag(const char *s, size_t len)
{
	if (len == 0 || len > PROC_TAG_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static int opt_name(json_t *body, const char *key, bool (*ok)(const char *, size_t),
		    const char *what, char **out, struct thaw_err **err)
{
	json_t *v = json_object_get(body, key);
	if (!v)
		return 0;
	if (!json_is_string(v) || !ok(json_string_value(v), json_string_length(v)) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return err_set(err, ERR_INVALID, "%s must be %s", key, what);
	*out = xstrdup(json_string_value(v));
	return 0;
}

/* The user's own HOME (set by the guest) replaces the default /root one,
 * unless the request's env names HOME itself. */
static void drop_default_home(json_t *body, struct exec_params *p)
{
	json_t *env = json_object_get(body, "env");
	if (!p->user || !p->env || (json_is_object(env) && json_object_get(env, "HOME")))
		return;
	size_t k = 0;
	for (size_t i = 0; p->env[i]; i++) {
		if (strncmp(p->env[i], "HOME=", 5) == 0)
			free(p->env[i]);
		else
			p->env[k++] = p->env[i];
	}
	p->env[k] = NULL;
}

int validate_exec_process(json_t *body, struct exec_params *p, struct thaw_err **err)
{
	if (opt_name(body, "tag", valid_tag, "1 to 64 printable characters", &p->tag, err) < 0 ||
	    opt_name(body, "user", valid_user, "a user name (letters, digits, _ - .)", &p->user,
		     err) < 0 ||
	    opt_bool(body, "kill_on_disconnect", &p->kill_on_disconnect, err) < 0 ||
	    opt_bool(body, "stdin_open", &p->stdin_open, err) < 0 ||
	    opt_bool(body, "pty", &p->pty, err) < 0 ||
	    opt_uint(body, "rows", 1, 9999, &p->rows, err) < 0 ||
	    opt_uint(body, "cols", 1, 9999, &p->cols, err) < 0)
		return -1;
	if ((json_object_get(body, "rows") || json_object_get(body, "cols")) && !p->pty)
		return err_set(err, ERR_INVALID, "rows and cols go with \"pty\": true");
	if (p->background && (p->tag || p->stdin_open || p->pty))
		return err_set(err, ERR_INVALID,
			       "a background command takes no tag, stdin_open or pty: every exec's "
			       "process outlives its request now (GET /v1/sandboxes/{id}/processes)");
	if (p->stdin_open)
		p->has_stdin = true;
	drop_default_home(body, p);
	return 0;
}

static const struct {
	const char *name;
	int signo;
} signals[] = {
	{ "HUP", SIGHUP },   { "INT", SIGINT },	  { "QUIT", SIGQUIT },	 { "KILL", SIGKILL },
	{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "TERM", SIGTERM },	 { "CONT", SIGCONT },
	{ "STOP", SIGSTOP }, { "TSTP", SIGTSTP }, { "WINCH", SIGWINCH },
};

int validate_signal(json_t *body, int *signo, struct thaw_err **err)
{
	json_t *v = json_object_get(body, "signal");
	if (json_object_size(body) != 1 || !v)
		return err_set(err, ERR_INVALID, "the body is {\"signal\": NAME or number}");
	if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 64) {
		*signo = (int)json_integer_value(v);
		return 0;
	}
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		if (strcasecmp(s, signals[i].name) == 0) {
			*signo = signals[i].signo;
			return 0;
		}
	}
	return err_set(err, ERR_INVALID,
		       "signal must be 1 to 64 or one of HUP INT QUIT KILL USR1 USR2 TERM CONT "
		       "STOP TSTP WINCH");
}

int validate_proc_stdin(json_t *body, struct proc_stdin_params *p, struct thaw_err **err)
{
	static const char *const fields[] = { "data", "data_b64", "eof", NULL };
	memset(p, 0, sizeof(*p));
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v)
	{
		bool known = false;
		for (size_t i = 0; fields[i]; i++)
			known |= strcmp(key, fields[i]) == 0;
		if (!known)
			return err_set(err, ERR_INVALID, "unknown field \"%.64s\"", key);
	}
	json_t *text = json_object_get(body, "data"), *b64 = json_object_get(body, "data_b64");
	if (text && b64)
		return err_set(err, ERR_INVALID, "give data or data_b64, not both");
	if (text && !json_is_string(text))
		return err_set(err, ERR_INVALID, "data must be a string");
	if (text)
		buf_append(&p->data, json_string_value(text), json_string_length(text));
	if (b64 && (!json_is_string(b64) ||
		    base64_decode(json_string_value(b64), json_string_length(b64), &p->data) < 0)) {
		buf_free(&p->data);
		return err_set(err, ERR_INVALID, "data_b64 must be standard base64");
	}
	if (opt_bool(body, "eof", &p->eof, err) < 0) {
		buf_free(&p->data);
		return -1;
	}
	if (!text && !b64 && !p->eof)
		return err_set(err, ERR_INVALID, "give data, data_b64 or \"eof\": true");
	if (p->data.len > PROC_STDIN_MAX) {
		buf_free(&p->data);
		return err_set(err, ERR_TOO_LARGE, "at most %u bytes of stdin at a time",
			       PROC_STDIN_MAX);
	}
	return 0;
}

int validate_resize(json_t *body, uint32_t *rows, uint32_t *cols, struct thaw_err **err)
{
	*rows = *cols = 0;
	if (json_object_size(body) != 2 || opt_uint(body, "rows", 1, 9999, rows, err) < 0 ||
	    opt_uint(body, "cols", 1, 9999, cols, err) < 0 || !*rows || !*cols)
		return err_set(err, ERR_INVALID,
			       "the body is {\"rows\": 1-9999, \"cols\": 1-9999}");
	return 0;
}

int validate_wait(json_t *body, uint32_t *wait_ms, struct thaw_err **err)
{
	json_t *v = json_object_get(body, "timeout_s");
	*wait_ms = PROC_WAIT_DEFAULT_S * 1000;
	if (json_object_size(body) > (v ? 1u : 0u))
		return err_set(err, ERR_INVALID, "the body is {\"timeout_s\": seconds} or empty");
	if (!v)
		return 0;
	double s = json_number_value(v);
	if (!json_is_number(v) || !(s >= 0 && s <= PROC_WAIT_MAX_S))
		return err_set(err, ERR_INVALID, "timeout_s must be a number from 0 to %d",
			       PROC_WAIT_MAX_S);
	*wait_ms = (uint32_t)(s * 1000);
	return 0;
}
