/* thaw cp: copy a file into or out of a sandbox. One side is ID:PATH,
 * the other a local path or "-" (stdin/stdout). Bytes stream both ways;
 * a download lands in a temp file renamed into place, so a failure never
 * leaves a partial file behind. The local file's mode goes with an
 * upload; a download gets the sandbox file's mode. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

struct remote {
	char id[64];
	const char *path;
};

/* "sb-xxxxxxxxxxxx:/path" -> remote; anything else is local. */
static bool parse_remote(const char *s, struct remote *r)
{
	const char *colon = strchr(s, ':');
	if (!colon || strncmp(s, "sb-", 3) != 0 || (size_t)(colon - s) >= sizeof(r->id))
		return false;
	memcpy(r->id, s, (size_t)(colon - s));
	r->id[colon - s] = '\0';
	r->path = colon + 1;
	return true;
}

static const char *base_of(const char *p)
{
	const char *slash = strrchr(p, '/');
	return slash ? slash + 1 : p;
}

static int upload(struct cli *cli, const char *local, const struct remote *r)
{
	int fd = STDIN_FILENO;
	long long size = -1;
	thaw_file_write_options o = { .mode = -1, .uid = -1, .gid = -1 };
	char path[PATH_MAX + 256];
	snprintf(path, sizeof(path), "%s", r->path);
	if (strcmp(local, "-") != 0) {
		fd = open(local, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			fprintf(stderr, "thaw: cp: %s: %s\n", local, strerror(errno));
			if (fd >= 0)
				close(fd);
			return EXIT_FAIL;
		}
		if (S_ISDIR(st.st_mode)) {
			fprintf(stderr, "thaw: cp: %s is a directory (files only)\n", local);
			close(fd);
			return EXIT_FAIL;
		}
		if (S_ISREG(st.st_mode))
			size = (long long)st.st_size;
		o.mode = (int)(st.st_mode & 07777);
		if (path[strlen(path) - 1] == '/')
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s",
				 base_of(local));
	}
	thaw_client *c = cli_client(cli);
	thaw_error *e = NULL;
	int rc = c ? thaw_file_write_fd(c, r->id, path, fd, size, &o, NULL, &e) : -1;
	if (fd != STDIN_FILENO)
		close(fd);
	if (!c)
		return EXIT_FAIL;
	return rc < 0 ? cli_fail(e) : EXIT_OK;
}

static int write_chunk(int stream, const char *data, size_t len, void *ud)
{
	(void)stream;
	return cli_write(*(int *)ud, data, len) ? 0 : 1;
}

static int download(struct cli *cli, const struct remote *r, const char *local)
{
	thaw_client *c = cli_client(cli);
	if (!c)
		return EXIT_FAIL;
	thaw_file_info *fi = NULL;
	thaw_error *e = NULL;
	if (thaw_file_stat(c, r->id, r->path, &fi, &e) < 0)
		return cli_fail(e);
	unsigned mode = fi->mode;
	thaw_file_info_free(fi);
	if (strcmp(local, "-") == 0) {
		int out = STDOUT_FILENO;
		return thaw_file_read(c, r->id, r->path, write_chunk, &out, &e) < 0 ? cli_fail(e)
										    : EXIT_OK;
	}
	char dest[PATH_MAX], tmp[PATH_MAX + 32];
	struct stat st;
	if (stat(local, &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(dest, sizeof(dest), "%s/%s", local, base_of(r->path));
	else
		snprintf(dest, sizeof(dest), "%s", local);
	snprintf(tmp, sizeof(tmp), "%s.thaw-XXXXXX", dest);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "thaw: cp: %s: %s\n", dest, strerror(errno));
		return EXIT_FAIL;
	}
	int rc = thaw_file_read(c, r->id, r->path, write_chunk, &fd, &e);
	bool ok = rc == 0 && fchmod(fd, mode) == 0;
	int saved = errno;
	if (close(fd) < 0 && ok) {
		ok = false;
		saved = errno;
	}
	if (ok && rename(tmp, dest) < 0) {
		ok = false;
		saved = errno;
	}
	if (!ok) {
		unlink(tmp);
		if (rc < 0)
			return cli_fail(e);
		fprintf(stderr, "thaw: cp: %s: %s\n", dest, strerror(saved));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int cp_run(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	int rc = cli_parse(&cmd_cp, (const struct cli_opt[]){ { 0 } }, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_cp, &a, 2, 2)) != 0)
		return cli_parse_exit(&cmd_cp, rc);
	struct remote src, dst;
	bool rs = parse_remote(a.pos[0], &src), rd = parse_remote(a.pos[1], &dst);
	if (rs == rd)
		return cli_usage_error(&cmd_cp, "exactly one side must be ID:PATH");
	const struct remote *r = rs ? &src : &dst;
	if (r->path[0] != '/')
		return cli_usage_error(&cmd_cp, "the sandbox path must be absolute (ID:/path)");
	return rs ? download(cli, &src, a.pos[1]) : upload(cli, a.pos[0], &dst);
}

const struct cli_command cmd_cp = {
	.name = "cp",
	.args = "SRC DST",
	.summary = "Copy a file into or out of a sandbox (one side is ID:PATH).",
	.help = "  thaw cp ./data.csv sb-xxxxxxxxxxxx:/root/data.csv   upload (mode kept)\n"
		"  thaw cp sb-xxxxxxxxxxxx:/etc/os-release .           download\n"
		"  thaw cp - ID:/root/in.txt  /  thaw cp ID:/root/out.txt -   stdin / stdout\n"
		"A sandbox path ending in / takes the local file's name. Files are replaced\n"
		"atomically on both sides.\n",
	.run = cp_run,
};
