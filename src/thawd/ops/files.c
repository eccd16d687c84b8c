#include "ops/files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "core/sandbox.h"
#include "ops/ops.h"
#include "proto.h"

#define META_TIMEOUT_MS 60000	    /* stat, list, mkdir, remove */
#define DATA_TIMEOUT_MS 3600000	    /* read, write: as long as the bytes take */
#define META_MAX_OUTPUT (64u << 20) /* a listing of ~500k entries */
#define STDERR_MAX 4096
/* How a guest without file commands (an agent before thaw-agent/2) says
 * "no such program". */
#define EXIT_NOT_FOUND 127

void file_info_free(struct file_info *fi)
{
	free(fi->name);
	free(fi->link);
	free(fi->owner);
	free(fi->group);
	memset(fi, 0, sizeof(*fi));
}

void file_infos_free(struct file_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		file_info_free(&v[i]);
	free(v);
}

const char *file_type_name(int type)
{
	switch (type) {
	case FTYPE_FILE:
		return "file";
	case FTYPE_DIR:
		return "dir";
	case FTYPE_SYMLINK:
		return "symlink";
	default:
		return "other";
	}
}

int file_path_check(const char *path, struct thaw_err **err)
{
	if (!path || !*path)
		return err_set(err, ERR_INVALID, "path is required");
	if (path[0] != '/')
		return err_set(err, ERR_INVALID, "path must be absolute");
	if (strlen(path) > FILE_PATH_MAX)
		return err_set(err, ERR_INVALID, "path is longer than %d bytes", FILE_PATH_MAX);
	return 0;
}

/* errno from the guest to our error codes. */
static enum err_code code_for(int e)
{
	switch (e) {
	case ENOENT:
		return ERR_NOT_FOUND;
	case EISDIR:
	case ENOTDIR:
	case EINVAL:
	case ENAMETOOLONG:
	case ELOOP:
		return ERR_INVALID;
	case EEXIST:
	case ENOTEMPTY:
	case EACCES:
	case EPERM:
	case EROFS:
	case EBUSY:
	case ETXTBSY:
	case EXDEV:
		return ERR_CONFLICT;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return ERR_TOO_LARGE;
	default:
		return ERR_GUEST;
	}
}

int builtin_verdict(const struct agent_exec_result *res, const char *what, struct thaw_err **err)
{
	if (res->exit_code == 0 && !res->timed_out && !res->signal)
		return 0;
	if (res->timed_out)
		return err_set(err, ERR_TIMEOUT, "%s timed out", what);
	if (res->exit_code == EXIT_NOT_FOUND && res->err.len &&
	    memmem(res->err.data, res->err.len, "command not found", 17))
		return err_set(
			err, ERR_CONFLICT,
			"this sandbox's guest agent has no built-in commands (older than %s): "
			"bake its template again",
			PROTO_VERSION);
	/* An agent with built-ins, but older than this one (a template baked
	 * before thaw:file-move, or before file-list took a depth). */
	if (res->exit_code == EINVAL && res->err.len &&
	    (memmem(res->err.data, res->err.len, "unknown built-in command", 24) ||
	     memmem(res->err.data, res->err.len, "argument(s), not", 16)))
		return err_set(err, ERR_CONFLICT,
			       "%s: this sandbox's guest agent is too old for it (its template "
			       "was baked by an older thaw): bake its template again",
			       what);
	size_t n = res->err.len;
	while (n && (res->err.data[n - 1] == '\n' || res->err.data[n - 1] == '\r'))
		n--;
	if (res->signal)
		return err_set(err, ERR_GUEST, "%s was killed (signal %d)", what, res->signal);
	return err_set(err, code_for(res->exit_code), "%.*s", (int)n,
		       n ? (const char *)res->err.data : "the guest command failed");
}

/* The verdict of a file command on path. */
static int verdict(const struct agent_exec_result *res, const char *path, struct thaw_err **err)
{
	char what[FILE_PATH_MAX + 32];
	snprintf(what, sizeof(what), "the file operation on %s", path);
	return builtin_verdict(res, what, err);
}

static int parse_info(const struct proto_frame *f, struct file_info *fi)
{
	memset(fi, 0, sizeof(*fi));
	struct proto_tlv_iter it;
	struct proto_tlv t;
	uint8_t type = 0;
	int r, bad = 0;
	proto_tlv_init(&it, f);
	while (!bad && (r = proto_tlv_next(&it, &t)) > 0) {
		if (t.tag == T_NAME && !fi->name)
			bad = proto_tlv_str(&t, &fi->name);
		else if (t.tag == T_LINK && !fi->link)
			bad = proto_tlv_str(&t, &fi->link);
		else if (t.tag == T_OWNER && !fi->owner)
			bad = proto_tlv_str(&t, &fi->owner);
		else if (t.tag == T_GROUP && !fi->group)
			bad = proto_tlv_str(&t, &fi->group);
		else if (t.tag == T_FTYPE)
			bad = proto_tlv_u8(&t, &type);
		else if (t.tag == T_SIZE)
			bad = proto_tlv_u64(&t, &fi->size);
		else if (t.tag == T_MODE)
			bad = proto_tlv_u32(&t, &fi->mode);
		else if (t.tag == T_UID)
			bad = proto_tlv_u32(&t, &fi->uid);
		else if (t.tag == T_GID)
			bad = proto_tlv_u32(&t, &fi->gid);
		else if (t.tag == T_MTIME_NS)
			bad = proto_tlv_u64(&t, &fi->mtime_ns);
	}
	fi->type = type;
	if (bad || r < 0 || !fi->name || type < FTYPE_FILE || type > FTYPE_OTHER ||
	    fi->mode > 07777) {
		file_info_free(fi);
		return -1;
	}
	return 0;
}

/* Every FILE_INFO frame in a command's stdout, at most max. */
static int parse_infos(const struct buf *out, size_t max, struct file_info **v, size_t *n,
		       bool *truncated, struct thaw_err **err)
{
	*v = NULL;
	*n = 0;
	if (truncated)
		*truncated = false;
	size_t off = 0, cap = 0;
	while (off < out->len) {
		struct proto_frame f;
		long used = proto_frame_parse(out->data + off, out->len - off, &f);
		if (used <= 0 || f.type != MSG_FILE_INFO)
			goto bad;
		off += (size_t)used;
		if (*n == max) {
			if (truncated)
				*truncated = true;
			break;
		}
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			*v = xrealloc(*v, cap * sizeof(**v));
		}
		if (parse_info(&f, &(*v)[*n]) < 0)
			goto bad;
		(*n)++;
	}
	return 0;
bad:
	file_infos_free(*v, *n);
	*v = NULL;
	*n = 0;
	return err_set(err, ERR_GUEST, "the guest agent sent malformed file metadata");
}

/* Runs one file command to the end, output collected. */
static int run(struct host *h, const char *id, const char *const *argv, bool auto_resume,
	       const struct agent_exec_req *extra, struct agent_exec_result *res,
	       struct thaw_err **err)
{
	struct agent_exec_req req = { .argv = argv,
				      .timeout_ms = META_TIMEOUT_MS,
				      .max_output = META_MAX_OUTPUT };
	if (extra) {
		req = *extra;
		req.argv = argv;
	}
	if (sandbox_exec(h, id, &req, auto_resume, res, err) < 0)
		return -1;
	if (verdict(res, argv[1], err) < 0) {
		agent_exec_result_free(res);
		return -1;
	}
	return 0;
}

/* A command's stdout that is exactly one FILE_INFO, into out. */
static int one_info(const struct buf *stdout_buf, struct file_info *out, struct thaw_err **err)
{
	struct file_info *v = NULL;
	size_t n = 0;
	int rc = parse_infos(stdout_buf, 1, &v, &n, NULL, err);
	if (rc == 0 && n != 1)
		rc = err_set(err, ERR_GUEST, "the guest agent sent no file metadata");
	if (rc == 0) {
		*out = v[0];
		free(v);
	} else {
		file_infos_free(v, n);
	}
	return rc;
}

/* A command whose stdout is exactly one FILE_INFO. */
static int run_one_info(struct host *h, const char *id, const char *const *argv, bool auto_resume,
			const struct agent_exec_req *extra, struct file_info *out,
			struct thaw_err **err)
{
	if (file_path_check(argv[1], err) < 0)
		return -1;
	struct agent_exec_result res;
	if (run(h, id, argv, auto_resume, extra, &res, err) < 0)
		return -1;
	int rc = one_info(&res.out, out, err);
	agent_exec_result_free(&res);
	return rc;
}

int sandbox_file_stat(struct host *h, const char *id, const char *path, bool auto_resume,
		      struct file_info *out, struct thaw_err **err)
{
	const char *argv[] = { FILE_CMD_PREFIX "file-stat", path, NULL };
	return run_one_info(h, id, argv, auto_resume, NULL, out, err);
}

int sandbox_file_list(struct host *h, const char *id, const char *path, int depth, bool auto_resume,
		      size_t max, struct file_info **out, size_t *n, bool *truncated,
		      struct thaw_err **err)
{
	if (file_path_check(path, err) < 0)
		return -1;
	if (depth < 1 || depth > FILE_LIST_DEPTH_MAX)
		return err_set(err, ERR_INVALID, "depth must be 1 to %d", FILE_LIST_DEPTH_MAX);
	/* Depth 1 asks as agents before thaw:file-list took a depth did. */
	char d[16], m[32];
	snprintf(d, sizeof(d), "%d", depth);
	snprintf(m, sizeof(m), "%zu", max);
	const char *argv[] = { FILE_CMD_PREFIX "file-list", path, depth > 1 ? d : NULL, m, NULL };
	struct agent_exec_result res;
	if (run(h, id, argv, auto_resume, NULL, &res, err) < 0)
		return -1;
	int rc = parse_infos(&res.out, max, out, n, truncated, err);
	if (rc == 0 && res.out_truncated && truncated)
		*truncated = true;
	agent_exec_result_free(&res);
	return rc;
}

int sandbox_file_move(struct host *h, const char *id, const char *from, const char *to,
		      bool overwrite, bool auto_resume, struct file_info *out, struct thaw_err **err)
{
	if (file_path_check(from, err) < 0 || file_path_check(to, err) < 0)
		return -1;
	if (strcmp(from, "/") == 0)
		return err_set(err, ERR_INVALID, "refusing to move /");
	const char *argv[] = { FILE_CMD_PREFIX "file-move", from, to, overwrite ? "1" : "0", NULL };
	struct agent_exec_result res;
	if (sandbox_exec(h, id, &(struct agent_exec_req){ .argv = argv,
							  .timeout_ms = META_TIMEOUT_MS,
							  .max_output = META_MAX_OUTPUT },
			 auto_resume, &res, err) < 0)
		return -1;
	if (res.exit_code == EXDEV) {
		agent_exec_result_free(&res);
		return err_set(err, ERR_CONFLICT,
			       "%.200s and %.200s are on different file systems: a move cannot cross "
			       "them (read and write the file, then remove it)",
			       from, to);
	}
	int rc = verdict(&res, from, err);
	if (rc == 0)
		rc = one_info(&res.out, out, err);
	agent_exec_result_free(&res);
	return rc;
}

int sandbox_file_remove(struct host *h, const char *id, const char *path, bool recursive,
			bool auto_resume, struct thaw_err **err)
{
	if (file_path_check(path, err) < 0)
		return -1;
	if (strcmp(path, "/") == 0)
		return err_set(err, ERR_INVALID, "refusing to remove /");
	const char *argv[] = { FILE_CMD_PREFIX "file-remove", path, recursive ? "1" : "0", NULL };
	struct agent_exec_result res;
	if (run(h, id, argv, auto_resume, NULL, &res, err) < 0)
		return -1;
	agent_exec_result_free(&res);
	return 0;
}

/* "-" for -1 (the guest's default), else the number in base 8 or 10. */
static void num_or_dash(char out[32], long v, bool octal)
{
	if (v < 0)
		snprintf(out, 32, "-");
	else if (octal)
		snprintf(out, 32, "%lo", (unsigned long)v);
	else
		snprintf(out, 32, "%ld", v);
}

int sandbox_file_mkdir(struct host *h, const char *id, const char *path, long mode, bool parents,
		       bool auto_resume, struct file_info *out, struct thaw_err **err)
{
	char m[32];
	num_or_dash(m, mode, true);
	const char *argv[] = { FILE_CMD_PREFIX "file-mkdir", path, m, parents ? "1" : "0", NULL };
	return run_one_info(h, id, argv, auto_resume, NULL, out, err);
}

int sandbox_file_write(struct host *h, const char *id, const struct file_write_req *req,
		       bool auto_resume, struct file_info *out, struct thaw_err **err)
{
	char m[32], u[32], g[32];
	num_or_dash(m, req->mode, true);
	num_or_dash(u, req->uid, false);
	num_or_dash(g, req->gid, false);
	const char *argv[] = { FILE_CMD_PREFIX "file-write", req->path, m, u, g,
			       req->parents ? "1" : "0",     NULL };
	struct agent_exec_req extra = { .timeout_ms = DATA_TIMEOUT_MS,
					.max_output = META_MAX_OUTPUT,
					.has_stdin = true,
					.stdin_from_fd = true,
					.stdin_fd = req->fd };
	return run_one_info(h, id, argv, auto_resume, &extra, out, err);
}

struct read_ctx {
	agent_output_fn on_data;
	void *ud;
	struct buf err; /* stderr, for the verdict */
};

static void read_output(int stream, const uint8_t *data, size_t len, void *ud)
{
	struct read_ctx *x = ud;
	if (stream == STREAM_STDOUT) {
		x->on_data(stream, data, len, x->ud);
	} else if (x->err.len < STDERR_MAX) {
		size_t room = STDERR_MAX - x->err.len;
		buf_append(&x->err, data, len < room ? len : room);
	}
}

int sandbox_file_read(struct host *h, const char *id, const char *path, bool auto_resume,
		      agent_output_fn on_data, void *ud, const bool *cancel, struct thaw_err **err)
{
	if (file_path_check(path, err) < 0)
		return -1;
	const char *argv[] = { FILE_CMD_PREFIX "file-read", path, NULL };
	struct read_ctx x = { .on_data = on_data, .ud = ud };
	struct agent_exec_req req = { .argv = argv,
				      .timeout_ms = DATA_TIMEOUT_MS,
				      .on_output = read_output,
				      .ud = &x,
				      .cancel = cancel };
	struct agent_exec_result res;
	int rc = sandbox_exec(h, id, &req, auto_resume, &res, err);
	if (rc == 0) {
		res.err = x.err; /* the verdict reads stderr from the result */
		memset(&x.err, 0, sizeof(x.err));
		rc = verdict(&res, path, err);
		agent_exec_result_free(&res);
	}
	buf_free(&x.err);
	return rc;
}
