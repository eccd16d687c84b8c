/* thaw files: a sandbox's file system, beyond copying (thaw cp): list a
 * directory (or its tree), make one, remove or move a path. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* OWNER is user:group, by name where the guest has one, else by id. */
static void files_row(struct cli_table *t, const thaw_file_info *fi, size_t strip)
{
	char mode[16], size[32], uid[16], gid[16], owner[160];
	snprintf(mode, sizeof(mode), "%04o", fi->mode);
	snprintf(size, sizeof(size), "%llu", fi->size);
	snprintf(uid, sizeof(uid), "%u", fi->uid);
	snprintf(gid, sizeof(gid), "%u", fi->gid);
	snprintf(owner, sizeof(owner), "%s:%s", fi->owner ? fi->owner : uid,
		 fi->group ? fi->group : gid);
	/* Deeper listings name an entry by its path below the directory. */
	const char *name =
		strip && fi->path && strlen(fi->path) > strip ? fi->path + strip : fi->name;
	const char *row[] = { fi->type, mode, owner, size, name, fi->link_target };
	cli_table_add(t, row);
}

static int files_ls(thaw_client *c, const char *id, const char *path, int depth)
{
	static const char *const headers[] = { "TYPE", "MODE", "OWNER", "SIZE", "NAME", "TARGET" };
	thaw_file_info **list = NULL;
	size_t n = 0;
	thaw_error *e = NULL;
	if (thaw_file_list_depth(c, id, path, depth, &list, &n, &e) < 0)
		return cli_fail(e);
	/* "/a" lists "/a/x": strip "/a/"; "/" lists "/x": strip "/". */
	size_t strip = depth > 1 ? strlen(path) + (strcmp(path, "/") != 0) : 0;
	struct cli_table *t = cli_table_new(6, headers);
	for (size_t i = 0; i < n; i++)
		files_row(t, list[i], strip);
	cli_table_print(t);
	thaw_file_info_list_free(list, n);
	return EXIT_OK;
}

static int files_mkdir(thaw_client *c, const char *id, const char *path, bool parents)
{
	thaw_file_info *fi = NULL;
	thaw_error *e = NULL;
	if (thaw_file_mkdir(c, id, path, -1, parents, &fi, &e) < 0)
		return cli_fail(e);
	printf("%s\n", path);
	thaw_file_info_free(fi);
	return EXIT_OK;
}

static int files_mv(thaw_client *c, const char *id, const char *from, const char *to,
		    bool overwrite)
{
	thaw_error *e = NULL;
	if (thaw_file_move(c, id, from, to, overwrite, NULL, &e) < 0)
		return cli_fail(e);
	printf("%s\n", to);
	return EXIT_OK;
}

static int files_rm(thaw_client *c, const char *id, const char *path, bool recursive)
{
	thaw_error *e = NULL;
	if (thaw_file_remove(c, id, path, recursive, &e) < 0)
		return cli_fail(e);
	printf("%s\n", path);
	return EXIT_OK;
}

static int files_run(struct cli *cli, int argc, char **argv)
{
	bool parents = false, recursive = false, force = false;
	const char *depth_text = NULL;
	const struct cli_opt opts[] = { { "parents", 'p', OPT_FLAG, &parents },
					{ "recursive", 'r', OPT_FLAG, &recursive },
					{ "force", 'f', OPT_FLAG, &force },
					{ "depth", 'd', OPT_VALUE, &depth_text },
					{ 0 } };
	struct cli_args a;
	int rc = cli_parse(&cmd_files, opts, false, argc, argv, &a);
	bool mv = rc == 0 && a.npos > 0 && strcmp(a.pos[0], "mv") == 0;
	if (rc != 0 || (rc = cli_want_args(&cmd_files, &a, mv ? 4 : 3, mv ? 4 : 3)) != 0)
		return cli_parse_exit(&cmd_files, rc);
	const char *sub = a.pos[0], *id = a.pos[1], *path = a.pos[2];
	bool ls = strcmp(sub, "ls") == 0, mkdir = strcmp(sub, "mkdir") == 0,
	     rm = strcmp(sub, "rm") == 0;
	if (!ls && !mkdir && !rm && !mv)
		return cli_usage_error(&cmd_files, "unknown subcommand '%s'", sub);
	if ((parents && !mkdir) || (recursive && !rm) || (force && !mv) || (depth_text && !ls))
		return cli_usage_error(&cmd_files,
				       "-p goes with mkdir, -r with rm, -f with mv, -d with ls");
	int depth = 1;
	if (depth_text &&
	    (rc = cli_parse_int(&cmd_files, "--depth", depth_text, 1, 10, &depth)) != 0)
		return rc;
	thaw_client *c = cli_client(cli);
	if (!c)
		return EXIT_FAIL;
	if (ls)
		return files_ls(c, id, path, depth);
	if (mv)
		return files_mv(c, id, path, a.pos[3], force);
	return mkdir ? files_mkdir(c, id, path, parents) : files_rm(c, id, path, recursive);
}

const struct cli_command cmd_files = {
	.name = "files",
	.args = "ls|mkdir|rm|mv [-d N|-p|-r|-f] ID PATH [TO]",
	.summary = "List a directory in a sandbox, make one, remove or move a path.",
	.help = "  thaw files ls [-d N] ID DIR    its entries (-d: the tree N levels deep), by "
		"path\n"
		"  thaw files mkdir [-p] ID DIR   make it (-p: and missing parents)\n"
		"  thaw files rm [-r] ID PATH     remove it (-r: a directory and all in it)\n"
		"  thaw files mv [-f] ID FROM TO  rename it in the guest (-f: replace TO)\n",
	.run = files_run,
};
