/* Files inside a sandbox, through the guest agent's built-in file
 * commands (proto.h, FILE_CMD_*): they run like any command (streamed,
 * with backpressure, killed with the connection), so a file of any size
 * moves through in chunks and never whole in memory.
 *
 * Paths are absolute guest paths; they travel as argv, never through a
 * shell. Errors keep the guest's reason: a missing path is ERR_NOT_FOUND,
 * a directory where a file is wanted ERR_INVALID, a non-empty directory
 * or a name in use ERR_CONFLICT, a full disk ERR_TOO_LARGE. */
#ifndef THAW_FILES_H
#define THAW_FILES_H

#include <stdbool.h>
#include <stdint.h>

#include "core/host.h"
#include "err.h"
#include "guestconn/agent.h"

#define FILE_PATH_MAX 4096

struct file_info {
	char *name; /* owned */
	char *link; /* a symlink's target, owned; NULL otherwise */
	int type;   /* enum proto_ftype */
	uint64_t size;
	uint32_t mode, uid, gid;
	uint64_t mtime_ns;
};

void file_info_free(struct file_info *fi);
void file_infos_free(struct file_info *v, size_t n);
const char *file_type_name(int type);

/* What a built-in guest command (thaw:file-*, thaw:bg-*) ended with: 0,
 * or an error from its errno exit status and stderr message (ENOENT is
 * ERR_NOT_FOUND, ...); an agent too old to know the command is
 * ERR_CONFLICT with "bake its template again". what names the operation
 * in messages. */
int builtin_verdict(const struct agent_exec_result *res, const char *what, struct thaw_err **err);

/* Checks a guest path: absolute, at most FILE_PATH_MAX bytes. */
int file_path_check(const char *path, struct thaw_err **err);

int sandbox_file_stat(struct host *h, const char *id, const char *path, bool auto_resume,
		      struct file_info *out, struct thaw_err **err);
/* At most max entries (more sets *truncated). */
int sandbox_file_list(struct host *h, const char *id, const char *path, bool auto_resume,
		      size_t max, struct file_info **out, size_t *n, bool *truncated,
		      struct thaw_err **err);
int sandbox_file_remove(struct host *h, const char *id, const char *path, bool recursive,
			bool auto_resume, struct thaw_err **err);
/* mode -1: 0755. */
int sandbox_file_mkdir(struct host *h, const char *id, const char *path, long mode, bool parents,
		       bool auto_resume, struct file_info *out, struct thaw_err **err);

struct file_write_req {
	const char *path;
	long mode, uid, gid; /* -1: the existing file's, or 0644 / 0 / 0 */
	bool parents;	     /* create missing directories */
	int fd;		     /* the content, read from its offset to its end */
};

/* Replaces path atomically (a temp file and a rename in the guest). */
int sandbox_file_write(struct host *h, const char *id, const struct file_write_req *req,
		       bool auto_resume, struct file_info *out, struct thaw_err **err);

/* The file's bytes go to on_data (stream 1) as they come; cancel (may
 * be NULL) stops the read. */
int sandbox_file_read(struct host *h, const char *id, const char *path, bool auto_resume,
		      agent_output_fn on_data, void *ud, const bool *cancel, struct thaw_err **err);

#endif
