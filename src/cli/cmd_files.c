/* thaw files: a sandbox's file system, beyond copying (thaw cp): list a
 * directory, make one, remove a path. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void files_row(struct cli_table *t, const thaw_file_info *fi)
{
	char mode[16], size[32], owner[32];
	snprintf(mode, sizeof(mode), "%04o", fi->mode);
	snprintf(size, sizeof(size), "%llu", fi->size);
	snprintf(owner, sizeof(owner), "%u:%u", fi->uid, fi->gid);
	const char *row[] = { fi->type, mode, owner, size, fi->name, fi->link_target };
	cli_table_add(t, row);
}

static int files_ls(thaw_client *c, const char *id, const char *path)
{
	static const char *const headers[] = { "TYPE", "MODE", "OWNER", "SIZE", "NAME", "TARGET" };
	thaw_file_info **list = NULL;
	size_t n = 0;
	thaw_error *e = NULL;
	if (thaw_file_list(c, id, path, &list, &n, &e) < 0)
		return cli_fail(e);
	struct cli_table *t = cli_table_new(6, headers);
	for (size_t i = 0; i < n; i++)
		files_row(t, list[i]);
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
	bool parents = false, recursive = false;
	const struct cli_opt opts[] = { { "parents", 'p', OPT_FLAG, &parents },
					{ "recursive", 'r', OPT_FLAG, &recursive },
					{ 0 } };
	struct cli_args a;
	int rc = cli_parse(&cmd_files, opts, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_files, &a, 3, 3)) != 0)
		return cli_parse_exit(&cmd_files, rc);
	const char *sub = a.pos[0], *id = a.pos[1], *path = a.pos[2];
	bool ls = strcmp(sub, "ls") == 0, mkdir = strcmp(sub, "mkdir") == 0,
	     rm = strcmp(sub, "rm") == 0;
	if (!ls && !mkdir && !rm)
		return cli_usage_error(&cmd_files, "unknown subcommand '%s'", sub);
	if ((parents && !mkdir) || (recursive && !rm))
		return cli_usage_error(&cmd_files, "-p goes with mkdir, -r with rm");
	thaw_client *c = cli_client(cli);
	if (!c)
		return EXIT_FAIL;
	if (ls)
		return files_ls(c, id, path);
	return mkdir ? files_mkdir(c, id, path, parents) : files_rm(c, id, path, recursive);
}

const struct cli_command cmd_files = {
	.name = "files",
	.args = "ls|mkdir|rm [-p|-r] ID PATH",
	.summary = "List a directory in a sandbox, make one, or remove a path.",
	.help = "  thaw files ls ID DIR          the directory's entries, sorted by name\n"
		"  thaw files mkdir [-p] ID DIR  make it (-p: and missing parents)\n"
		"  thaw files rm [-r] ID PATH    remove it (-r: a directory and all in it)\n",
	.run = files_run,
};
