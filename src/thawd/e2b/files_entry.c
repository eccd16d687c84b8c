/* What the E2B file area computes without a guest or a connection:
 * EntryInfo in protobuf JSON, users and paths, URL signatures. */
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "e2b/files.h"
#include "proto.h"
#include "utf8.h"

void e2b_permissions(int type, uint32_t mode, char out[16])
{
	size_t w = 0;
	/* Go's flag letters in its order ("dalTLDpSugct?"), as far as a
	 * stat tells them. */
	if (type == FTYPE_DIR)
		out[w++] = 'd';
	if (type == FTYPE_SYMLINK)
		out[w++] = 'L';
	if (mode & 04000)
		out[w++] = 'u';
	if (mode & 02000)
		out[w++] = 'g';
	if (mode & 01000)
		out[w++] = 't';
	if (w == 0)
		out[w++] = '-';
	static const char rwx[] = "rwxrwxrwx";
	for (int i = 0; i < 9; i++)
		out[w++] = (mode & (1u << (8 - i))) ? rwx[i] : '-';
	out[w] = '\0';
}

const char *e2b_file_type(int type)
{
	switch (type) {
	case FTYPE_FILE:
		return "FILE_TYPE_FILE";
	case FTYPE_DIR:
		return "FILE_TYPE_DIRECTORY";
	case FTYPE_SYMLINK:
		return "FILE_TYPE_SYMLINK";
	default:
		return "FILE_TYPE_UNSPECIFIED";
	}
}

void e2b_timestamp(uint64_t ns, char out[40])
{
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;
	gmtime_r(&s, &tm);
	char day[24];
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%s.%09uZ", day, (unsigned)(ns % 1000000000ull));
}

/* Guest names are bytes; JSON strings are UTF-8 (invalid bytes: U+FFFD). */
static json_t *text_json(const char *s)
{
	struct buf b = { 0 };
	utf8_sanitize(s, strlen(s), &b);
	json_t *v = json_stringn(b.len ? (const char *)b.data : "", b.len);
	buf_free(&b);
	return v;
}

/* An owner's name, or its number where the guest has no name for it. */
static json_t *owner_json(const char *name, uint32_t id)
{
	if (name)
		return text_json(name);
	char n[16];
	snprintf(n, sizeof(n), "%u", id);
	return json_string(n);
}

json_t *e2b_entry_json(const struct file_info *fi, const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash && slash[1] ? slash + 1 : path;
	char perm[16], when[40];
	e2b_permissions(fi->type, fi->mode, perm);
	e2b_timestamp(fi->mtime_ns, when);
	/* int64 size as a JSON number: exact up to 2^53, and the SDK takes
	 * Number(size) anyway. */
	json_t *o = json_pack("{s:o,s:s,s:o,s:I,s:I,s:s,s:o,s:o,s:s}", "name", text_json(name),
			      "type", e2b_file_type(fi->type), "path", text_json(path), "size",
			      (json_int_t)fi->size, "mode", (json_int_t)(fi->mode & 0777), "permissions",
			      perm, "owner", owner_json(fi->owner, fi->uid), "group",
			      owner_json(fi->group, fi->gid), "modifiedTime", when);
	if (fi->link)
		json_object_set_new(o, "symlinkTarget", text_json(fi->link));
	return o;
}

void e2b_user_home(const char *user, char out[E2B_USER_MAX + 8])
{
	if (strcmp(user, "root") == 0)
		snprintf(out, E2B_USER_MAX + 8, "/root");
	else
		snprintf(out, E2B_USER_MAX + 8, "/home/%.32s", user);
}

int e2b_path_resolve(const char *path, size_t len, const char *home,
		     char out[FILE_PATH_MAX + 1], struct thaw_err **err)
{
	if (!path || len == 0)
		return err_set(err, ERR_INVALID, "path is required");
	if (memchr(path, '\0', len))
		return err_set(err, ERR_INVALID, "path must not hold a NUL byte");
	const char *rest = path;
	const char *base = "";
	if (path[0] != '/') {
		base = home;
		if (path[0] == '~' && (len == 1 || path[1] == '/'))
			rest = path + 1;
	}
	size_t rest_len = len - (size_t)(rest - path);
	const char *sep = base[0] && rest_len && rest[0] != '/' ? "/" : "";
	size_t total = strlen(base) + strlen(sep) + rest_len;
	if (total > FILE_PATH_MAX)
		return err_set(err, ERR_INVALID, "path is over %d bytes", FILE_PATH_MAX);
	snprintf(out, FILE_PATH_MAX + 1, "%s%s%.*s", base, sep, (int)rest_len, rest);
	return file_path_check(out, err);
}

void e2b_signature(const char *path, const char *op, const char *user, const char *token,
		   const char *exp, char out[E2B_SIGNATURE_LEN + 1])
{
	_cleanup_buf_ struct buf raw = { 0 };
	buf_printf(&raw, "%s:%s:%s:%s", path, op, user ? user : "", token);
	if (exp && exp[0])
		buf_printf(&raw, ":%s", exp);
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256(raw.data, raw.len, md);
	_cleanup_buf_ struct buf b64 = { 0 };
	base64_encode(md, sizeof(md), &b64);
	size_t n = b64.len;
	while (n && b64.data[n - 1] == '=')
		n--;
	snprintf(out, E2B_SIGNATURE_LEN + 1, "v1_%.*s", (int)n, (const char *)b64.data);
}

bool e2b_signature_matches(const char *sig, const char *path, const char *op, const char *user,
			   const char *token, const char *exp)
{
	char want[E2B_SIGNATURE_LEN + 1];
	e2b_signature(path, op, user, token, exp, want);
	return strlen(sig) == E2B_SIGNATURE_LEN && CRYPTO_memcmp(sig, want, E2B_SIGNATURE_LEN) == 0;
}

int e2b_expiration_check(const char *exp, int64_t now, struct thaw_err **err)
{
	if (!exp || !exp[0])
		return 0;
	char *end;
	long long t = strtoll(exp, &end, 10);
	if (*end || exp[0] < '0' || exp[0] > '9' || strlen(exp) > 15)
		return err_set(err, ERR_INVALID, "signature_expiration must be Unix seconds");
	if (t < now)
		return err_set(err, ERR_UNAUTHORIZED, "the signed URL expired");
	return 0;
}

int e2b_part_target(const char *field, const char *filename, const char *qpath, size_t index,
		    const char **out, struct thaw_err **err)
{
	if (index >= E2B_UPLOAD_PARTS_MAX)
		return err_set(err, ERR_INVALID, "an upload takes at most %d files",
			       E2B_UPLOAD_PARTS_MAX);
	if (!field || strcmp(field, "file") != 0)
		return err_set(err, ERR_INVALID, "the form's parts must be named \"file\", not \"%.64s\"",
			       field ? field : "");
	if (qpath) {
		if (index > 0)
			return err_set(err, ERR_INVALID,
				       "an upload to ?path takes one file: name each file's path in "
				       "its part's filename instead");
		*out = qpath;
		return 0;
	}
	if (!filename || !filename[0])
		return err_set(err, ERR_INVALID,
			       "file %zu has no filename: with no ?path, a part's filename is its path",
			       index + 1);
	*out = filename;
	return 0;
}

/* thaw writes a file whole: into a temp file beside it, renamed over it
 * (src/guest/filecmd.c). Its temp file is no file of the user's. */
static bool thaw_temp(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	return slash && strncmp(slash + 1, ".thaw-write-", 12) == 0;
}

static json_t *fs_event(const char *dir, const char *type, const char *path)
{
	size_t n = strlen(dir);
	const char *name = path;
	if (strncmp(path, dir, n) == 0 && path[n] == '/')
		name = path + n + 1;
	else if (strcmp(dir, "/") == 0 && path[0] == '/')
		name = path + 1;
	return json_pack("{s:o,s:s}", "name", text_json(name), "type", type);
}

size_t e2b_watch_events(const char *dir, const char *type, const char *path, const char *from,
			json_t *out[2])
{
	if (strcmp(type, "rename") == 0 && thaw_temp(from)) {
		/* thaw's whole-file write landing: what a write in place shows */
		out[0] = fs_event(dir, "EVENT_TYPE_CREATE", path);
		out[1] = fs_event(dir, "EVENT_TYPE_WRITE", path);
		return 2;
	}
	if (thaw_temp(path))
		return 0;
	static const char *const map[][2] = { { "create", "EVENT_TYPE_CREATE" },
					      { "write", "EVENT_TYPE_WRITE" },
					      { "remove", "EVENT_TYPE_REMOVE" } };
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(type, map[i][0]) == 0) {
			out[0] = fs_event(dir, map[i][1], path);
			return 1;
		}
	if (strcmp(type, "rename") != 0)
		return 0; /* "ready", "overflow", "gone": no envd event */
	size_t n = 0;
	if (from)
		out[n++] = fs_event(dir, "EVENT_TYPE_RENAME", from);
	out[n++] = fs_event(dir, "EVENT_TYPE_CREATE", path);
	return n;
}
