/* sandbox_file_watch: thaw:file-watch in the guest (src/guest/filewatch.c),
 * its NUL-ended records turned into calls of on_event as they arrive. The
 * command runs until the watched directory goes away or cancel is set;
 * then the exec drops its connection and the guest kills the command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ops/files.h"
#include "ops/ops.h"
#include "proto.h"

#define RECORD_MAX (FILE_PATH_MAX + 64) /* "TYPE\tPATH": more is a broken agent */
#define STDERR_MAX 4096

struct watch_ctx {
	file_watch_fn on_event;
	void *ud;
	struct buf pending; /* a record split across chunks */
	char *rename_to;    /* a "rename" waiting for its "from" */
	bool broken;	    /* the guest sent what is no record: ignore the rest */
	struct buf err;	    /* stderr, for the verdict */
};

static const char *const types[] = { "ready",  "create", "write",    "remove",
				     "rename", "from",	 "overflow", "gone" };

static bool known_type(const char *t)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(types[i], t) == 0)
			return true;
	return false;
}

/* One record, "TYPE\tPATH". A "rename" is held until the "from" that
 * follows it, so the caller gets both names in one event. */
static void on_record(struct watch_ctx *x, char *rec)
{
	char *tab = strchr(rec, '\t');
	if (!tab) {
		x->broken = true;
		return;
	}
	*tab = '\0';
	const char *type = rec, *path = tab + 1;
	if (!known_type(type)) {
		x->broken = true;
		return;
	}
	if (strcmp(type, "from") == 0) {
		if (x->rename_to)
			x->on_event("rename", x->rename_to, path, x->ud);
		free(x->rename_to);
		x->rename_to = NULL;
		return;
	}
	free(x->rename_to); /* a rename with no from: the agent is broken, drop it */
	x->rename_to = NULL;
	if (strcmp(type, "rename") == 0)
		x->rename_to = xstrdup(path);
	else
		x->on_event(type, path, NULL, x->ud);
}

static void watch_output(int stream, const uint8_t *data, size_t len, void *ud)
{
	struct watch_ctx *x = ud;
	if (stream != STREAM_STDOUT) {
		if (x->err.len < STDERR_MAX)
			buf_append(&x->err, data,
				   len < STDERR_MAX - x->err.len ? len : STDERR_MAX - x->err.len);
		return;
	}
	if (x->broken)
		return;
	buf_append(&x->pending, data, len);
	size_t start = 0;
	for (;;) {
		const uint8_t *nul = memchr(x->pending.data + start, '\0', x->pending.len - start);
		if (!nul)
			break;
		on_record(x, (char *)x->pending.data + start);
		start = (size_t)(nul - x->pending.data) + 1;
		if (x->broken)
			return;
	}
	buf_consume(&x->pending, start);
	if (x->pending.len > RECORD_MAX)
		x->broken = true;
}

int sandbox_file_watch(struct host *h, const char *id, const char *path, bool recursive,
		       bool auto_resume, file_watch_fn on_event, void *ud, const bool *cancel,
		       struct thaw_err **err)
{
	if (file_path_check(path, err) < 0)
		return -1;
	const char *argv[] = { FILE_CMD_PREFIX "file-watch", path, recursive ? "1" : "0", NULL };
	struct watch_ctx x = { .on_event = on_event, .ud = ud };
	/* No timeout: a watch lasts as long as its client. */
	struct agent_exec_req req = {
		.argv = argv,
		.on_output = watch_output,
		.ud = &x,
		.cancel = cancel,
		/* The watch ends with its client: nobody re-attaches to it. */
		.kill_on_disconnect = true,
	};
	struct agent_exec_result res;
	int rc = sandbox_exec(h, id, &req, auto_resume, &res, err);
	if (rc == 0) {
		res.err = x.err; /* the verdict reads stderr from the result */
		memset(&x.err, 0, sizeof(x.err));
		char what[FILE_PATH_MAX + 32];
		snprintf(what, sizeof(what), "the watch of %s", path);
		rc = builtin_verdict(&res, what, err);
		if (rc == 0 && x.broken)
			rc = err_set(err, ERR_GUEST, "the guest agent sent malformed watch events");
		agent_exec_result_free(&res);
	}
	buf_free(&x.err);
	buf_free(&x.pending);
	free(x.rename_to);
	return rc;
}
