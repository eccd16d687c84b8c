/* process.Process's answers: the ProcessEvent messages of Start's and
 * Connect's streams, and List's ProcessInfo (see process_msg.h). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "e2b/process_msg.h"
#include "utf8.h"

static json_t *event(const char *kind, json_t *value)
{
	return json_pack("{s:{s:o}}", "event", kind, value);
}

json_t *e2b_event_start(uint32_t pid)
{
	return event("start", json_pack("{s:I}", "pid", (json_int_t)pid));
}

json_t *e2b_event_data(const char *kind, const uint8_t *data, size_t len)
{
	_cleanup_buf_ struct buf b64 = { 0 };
	base64_encode(data, len, &b64);
	return event("data",
		     json_pack("{s:s%}", kind, b64.len ? (const char *)b64.data : "", b64.len));
}

json_t *e2b_event_keepalive(void)
{
	return event("keepalive", json_object());
}

/* How Go's os.ProcessState words a signal (envd is Go): the status
 * strings E2B users see. */
static const char *signal_words(int signo)
{
	static const struct {
		int signo;
		const char *words;
	} names[] = {
		{ SIGHUP, "hangup" },
		{ SIGINT, "interrupt" },
		{ SIGQUIT, "quit" },
		{ SIGKILL, "killed" },
		{ SIGTERM, "terminated" },
		{ SIGSEGV, "segmentation fault" },
		{ SIGABRT, "aborted" },
		{ SIGPIPE, "broken pipe" },
		{ SIGALRM, "alarm clock" },
		{ SIGUSR1, "user defined signal 1" },
		{ SIGUSR2, "user defined signal 2" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].signo == signo)
			return names[i].words;
	return NULL;
}

json_t *e2b_event_end(int exit_code, int signal)
{
	char status[64];
	if (signal) {
		const char *words = signal_words(signal);
		if (words)
			snprintf(status, sizeof(status), "signal: %s", words);
		else
			snprintf(status, sizeof(status), "signal: signal %d", signal);
	} else {
		snprintf(status, sizeof(status), "exit status %d", exit_code);
	}
	json_t *end = json_pack("{s:i,s:b,s:s}", "exitCode", signal ? -1 : exit_code, "exited",
				!signal, "status", status);
	if (signal || exit_code)
		json_object_set_new(end, "error", json_string(status));
	return event("end", end);
}

/* The table's command line back as cmd and args. */
static void split_cmdline(const char *line, json_t *config)
{
	static const char bash_c[] = "/bin/bash -l -c ";
	json_t *args = json_array();
	if (strncmp(line, bash_c, sizeof(bash_c) - 1) == 0) {
		json_object_set_new(config, "cmd", json_string("/bin/bash"));
		json_array_append_new(args, json_string("-l"));
		json_array_append_new(args, json_string("-c"));
		json_array_append_new(args, json_string(line + sizeof(bash_c) - 1));
		json_object_set_new(config, "args", args);
		return;
	}
	size_t n = strcspn(line, " ");
	json_object_set_new(config, "cmd", json_stringn(line, n));
	for (const char *p = line + n; *p;) {
		p += strspn(p, " ");
		size_t w = strcspn(p, " ");
		if (w)
			json_array_append_new(args, json_stringn(p, w));
		p += w;
	}
	json_object_set_new(config, "args", args);
}

json_t *e2b_process_info(const struct agent_proc *p)
{
	json_t *config = json_pack("{s:{}}", "envs");
	/* The guest's text: JSON needs UTF-8. */
	_cleanup_buf_ struct buf line = { 0 };
	utf8_sanitize(p->cmd ? p->cmd : "", p->cmd ? strlen(p->cmd) : 0, &line);
	split_cmdline(buf_cstr(&line), config);
	json_t *o = json_pack("{s:o,s:I}", "config", config, "pid", (json_int_t)p->pid);
	if (p->tag[0])
		json_object_set_new(o, "tag", json_string(p->tag));
	return o;
}
