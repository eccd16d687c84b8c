/* Directories the E2B file area makes belong to the call's user, as
 * envd's do (it runs as that user): thaw's file operations run as root in
 * the guest and make root's directories (MakeDir, and a write's missing
 * parents). The missing ones are found before (a stat per level, from
 * the deepest up) and handed to the user after with chown(1) in the
 * guest, by argv, never a shell. Only those: a directory that was there
 * keeps its owner. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "e2b/files.h"
#include "ops/ops.h"

#define CHOWN_TIMEOUT_MS 30000

int e2b_dirs_missing(struct host *h, const char *id, const char *dir, size_t *top_len,
		     struct thaw_err **err)
{
	char p[FILE_PATH_MAX + 1];
	snprintf(p, sizeof(p), "%s", dir);
	size_t top = 0;
	while (p[0] == '/' && p[1]) {
		struct file_info fi;
		_cleanup_err_ struct thaw_err *e = NULL;
		if (sandbox_file_stat(h, id, p, false, &fi, &e) == 0) {
			file_info_free(&fi);
			break;
		}
		if (e->code != ERR_NOT_FOUND)
			return err_set(err, e->code, "%s", err_msg(e));
		top = strlen(p);
		char *slash = strrchr(p, '/');
		slash[slash == p ? 1 : 0] = '\0';
	}
	*top_len = top;
	return 0;
}

int e2b_dirs_chown(struct host *h, const char *id, const struct e2b_user *u, const char *dir,
		   size_t top_len, struct thaw_err **err)
{
	if (top_len == 0 || u->uid <= 0)
		return 0;
	/* argv: chown UID:GID TOP TOP/a ... DIR (the prefixes of dir from top) */
	size_t n = 0, len = strlen(dir);
	for (size_t i = top_len; i <= len; i++)
		n += i == len || dir[i] == '/';
	_cleanup_free_ char *copy = xstrdup(dir);
	_cleanup_free_ const char **argv = xcalloc(n + 4, sizeof(*argv));
	char owner[48];
	snprintf(owner, sizeof(owner), "%ld:%ld", u->uid, u->gid);
	size_t a = 0;
	argv[a++] = "chown";
	argv[a++] = owner;
	argv[a++] = "--"; /* no path is taken as an option */
	_cleanup_free_ char **parts = xcalloc(n + 1, sizeof(*parts));
	for (size_t i = top_len, k = 0; i <= len; i++)
		if (i == len || dir[i] == '/') {
			parts[k] = xstrndup(copy, i);
			argv[a++] = parts[k++];
		}
	struct agent_exec_req req = { .argv = argv, .timeout_ms = CHOWN_TIMEOUT_MS,
				      .max_output = 4096 };
	struct agent_exec_result res;
	int rc = sandbox_exec(h, id, &req, false, &res, err);
	for (size_t k = 0; k < n; k++)
		free(parts[k]);
	if (rc < 0)
		return err_wrap(err, "giving the new directories to %s", u->name);
	if (res.exit_code != 0)
		rc = err_set(err, ERR_GUEST, "giving the new directories to %s: chown: %.*s", u->name,
			     (int)res.err.len, res.err.len ? (const char *)res.err.data : "failed");
	agent_exec_result_free(&res);
	return rc;
}
