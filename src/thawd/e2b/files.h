/* The E2B front's file area: envd's filesystem.Filesystem service
 * (filesystem.c, filesystem_watch.c), its REST /files and /health
 * (files_rest.c, files_multipart.c) and signed /files URLs
 * (files_signed.c), on thaw's file operations (ops/files.h).
 *
 * files_entry.c holds what is pure (no guest, no HTTP): EntryInfo in
 * protobuf JSON, the user and path rules, the URL signature. */
#ifndef THAW_E2B_FILES_H
#define THAW_E2B_FILES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "e2b/e2b.h"
#include "err.h"
#include "ops/files.h"

/* "v1_" and SHA-256 in base64 without its '=' */
#define E2B_SIGNATURE_LEN (3 + 43)
/* Parts of one multipart upload (a batch write). */
#define E2B_UPLOAD_PARTS_MAX 1000

/* ---- files_entry.c: pure ---------------------------------------------- */

/* Go's os.FileMode.String() of a guest file (envd is Go): "-rw-r--r--",
 * "drwxr-xr-x", "Lrwxrwxrwx", "dtrwxrwxrwx" (flags before rwx). */
void e2b_permissions(int type, uint32_t mode, char out[16]);
/* "FILE_TYPE_FILE", "FILE_TYPE_DIRECTORY", "FILE_TYPE_SYMLINK", else
 * "FILE_TYPE_UNSPECIFIED" (the SDK skips those in a listing). */
const char *e2b_file_type(int type);
/* A google.protobuf.Timestamp in JSON: RFC 3339, UTC, nanoseconds. */
void e2b_timestamp(uint64_t ns, char out[40]);
/* EntryInfo of fi at path (absolute; its last name is "name"). */
json_t *e2b_entry_json(const struct file_info *fi, const char *path);

/* The guest path a request means: an absolute path as it is, "~" and
 * "~/x" and a relative "x" under home. Checked: not empty, no NUL (the
 * caller's length says), at most FILE_PATH_MAX bytes. */
int e2b_path_resolve(const char *path, size_t len, const char *home,
		     char out[FILE_PATH_MAX + 1], struct thaw_err **err);
/* The home envd gives a user: /root for root, /home/<name> otherwise. */
void e2b_user_home(const char *user, char out[E2B_USER_MAX + 8]);

/* The signature the SDK puts in a /files URL (getSignature):
 * "v1_" + base64(sha256("path:op:user:token[:exp]")) without '='; exp
 * NULL or "" for none. */
void e2b_signature(const char *path, const char *op, const char *user, const char *token,
		   const char *exp, char out[E2B_SIGNATURE_LEN + 1]);
/* Whether sig is that signature (compared in constant time). */
bool e2b_signature_matches(const char *sig, const char *path, const char *op, const char *user,
			   const char *token, const char *exp);
/* A signature_expiration: NULL or "" never expires; else decimal Unix
 * seconds, refused (ERR_UNAUTHORIZED) once now is past it, ERR_INVALID
 * when it is not a number. */
int e2b_expiration_check(const char *exp, int64_t now, struct thaw_err **err);

/* Which path part number index (0-based) of a multipart upload writes:
 * its field must be "file"; with a ?path (qpath not NULL) there is one
 * part and it goes there, else to its filename. At most
 * E2B_UPLOAD_PARTS_MAX parts. *out points into qpath or filename. */
int e2b_part_target(const char *field, const char *filename, const char *qpath, size_t index,
		    const char **out, struct thaw_err **err);

/* thaw's watch event (ops/files.h: type, path, from) as envd's
 * FilesystemEvents {name (relative to dir), type: "EVENT_TYPE_..."}: 0 to
 * 2 of them in out, new references. A rename is RENAME of the old name
 * and CREATE of the new (envd's fsnotify); thaw's own whole-file write
 * (its temp file renamed over the target) is CREATE and WRITE of the
 * target, the temp file unseen; "ready", "overflow", "gone": none. */
size_t e2b_watch_events(const char *dir, const char *type, const char *path, const char *from,
			json_t *out[2]);

/* ---- filesystem.c: shared by the file handlers -------------------------- */

struct e2b_user {
	char name[E2B_USER_MAX + 1];
	char home[E2B_USER_MAX + 8];
	long uid, gid; /* -1 until e2b_user_lookup */
};
/* The user's uid and gid, from the owner of its home in the guest (root:
 * 0, 0): ERR_INVALID when the guest has no such user. */
int e2b_user_lookup(struct host *h, const char *id, struct e2b_user *u, struct thaw_err **err);
/* A unary call's common start: the sandbox (e2b_sandbox_of), the user
 * (Authorization), the request message. false after replying. */
struct e2b_fs_call {
	char id[SANDBOX_ID_LEN + 1];
	struct e2b_user user;
	json_t *msg; /* owned */
};
bool e2b_fs_begin(struct api_req *r, struct e2b_fs_call *c, enum MHD_Result *res);
/* filesystem_watch.c: a watch request's fields ({path, recursive} and
 * includeEntry, allowNetworkMounts refused when true): 0, or an error. */
int e2b_watch_request(json_t *msg, const char *home, char path[FILE_PATH_MAX + 1],
		      bool *recursive, struct thaw_err **err);
/* A Connect error with a code that thaw's error codes do not carry
 * ("already_exists", "unimplemented"). */
enum MHD_Result e2b_connect_fail(struct api_req *r, unsigned status, const char *code,
				 const char *msg);

/* files_owner.c: how much of dir (its first *top_len bytes, 0: none) is
 * the topmost directory that does not exist yet; and, once made, those
 * directories (top down to dir) given to the user (nothing for root). */
int e2b_dirs_missing(struct host *h, const char *id, const char *dir, size_t *top_len,
		     struct thaw_err **err);
int e2b_dirs_chown(struct host *h, const char *id, const struct e2b_user *u, const char *dir,
		   size_t top_len, struct thaw_err **err);

/* files_rest.c, files_multipart.c: one file written from fd as the user;
 * appends {name, type: "file", path} to out. */
int e2b_write_one(struct host *h, const char *id, const struct e2b_user *u, const char *path,
		  size_t path_len, int fd, json_t *out, struct thaw_err **err);
/* A multipart/form-data body (in fd) whose "file" parts become files:
 * the part's filename is its path unless the query named one (then one
 * part only). */
int e2b_multipart_write(struct api_req *r, struct host *h, const char *id,
			const struct e2b_user *u, const char *qpath, int fd, json_t *out,
			struct thaw_err **err);

/* files_signed.c: the sandbox whose access token makes a signed /files
 * request's signature hold (op "read" or "write"); 0 and id set, or
 * ERR_UNAUTHORIZED. */
int e2b_signed_sandbox(struct host *h, const char *sig, const char *path, const char *op,
		       const char *user, const char *exp, char id[SANDBOX_ID_LEN + 1],
		       struct thaw_err **err);
/* api_service.public_body for POST /files (the integrator wires it in
 * server.c): its body is stored only when the sandbox's access token or
 * a valid signature vouches for it. */
bool e2b_files_public_body(void *app, struct MHD_Connection *conn, const struct api_route *route,
			   const char *const *params);

/* The handlers (routes_filesystem.c). */
enum MHD_Result e2b_fs_stat(struct api_req *r);
enum MHD_Result e2b_fs_make_dir(struct api_req *r);
enum MHD_Result e2b_fs_move(struct api_req *r);
enum MHD_Result e2b_fs_list_dir(struct api_req *r);
enum MHD_Result e2b_fs_remove(struct api_req *r);
enum MHD_Result e2b_fs_watch_dir(struct api_req *r);
enum MHD_Result e2b_fs_create_watcher(struct api_req *r);
enum MHD_Result e2b_fs_get_watcher_events(struct api_req *r);
enum MHD_Result e2b_fs_remove_watcher(struct api_req *r);
enum MHD_Result e2b_files_get(struct api_req *r);
enum MHD_Result e2b_files_post(struct api_req *r);
enum MHD_Result e2b_health(struct api_req *r);

#endif
