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
	char *name; /* owned; in a listing deeper than 1, the path below the listed directory */
	char *link; /* a symlink's target, owned; NULL otherwise */
	char *owner, *group; /* names from the guest's /etc/passwd and /etc/group, owned; NULL
				when it has none (or its agent is older) */
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
 * ERR_NOT_FOUND, ...); an agent too old to know the command (or its
 * arguments) is ERR_CONFLICT with "bake its template again". what names
 * the operation in messages. */
int builtin_verdict(const struct agent_exec_result *res, const char *what, struct thaw_err **err);

/* Checks a guest path: absolute, at most FILE_PATH_MAX bytes. */
int file_path_check(const char *path, struct thaw_err **err);

int sandbox_file_stat(struct host *h, const char *id, const char *path, bool auto_resume,
		      struct file_info *out, struct thaw_err **err);
/* At most max entries (more sets *truncated), depth levels deep (1: the
 * directory's own entries; up to FILE_LIST_DEPTH_MAX). */
int sandbox_file_list(struct host *h, const char *id, const char *path, int depth, bool auto_resume,
		      size_t max, struct file_info **out, size_t *n, bool *truncated,
		      struct thaw_err **err);
/* rename(2) in the guest; an existing to is replaced only with overwrite
 * (else ERR_CONFLICT). Across file systems: ERR_CONFLICT, nothing moved.
 * out: what to is now. */
int sandbox_file_move(struct host *h, const char *id, const char *from, const char *to,
		      bool overwrite, bool auto_resume, struct file_info *out, struct thaw_err **err);

/* One event of a watch (thaw:file-watch, see src/guest/filewatch.c):
 * type "ready", "create", "write", "remove", "rename" (from set),
 * "overflow", "gone"; paths absolute, valid for the call only. */
typedef void (*file_watch_fn)(const char *type, const char *path, const char *from, void *ud);
/* Watches path (a directory) until cancel becomes true or the watched
 * directory goes away; events go to on_event as they come. */
int sandbox_file_watch(struct host *h, const char *id, const char *path, bool recursive,
		       bool auto_resume, file_watch_fn on_event, void *ud, const bool *cancel,
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
