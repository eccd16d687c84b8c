/* The agent's built-in commands (proto.h, FILE_CMD_PREFIX "thaw:"): what
 * the host asks of the guest beyond running programs. Each runs like any
 * command, in a fork of the agent with stdio on the session's pipes, and
 * exits 0 or with the errno of what failed (a message on stderr). The
 * table says how many arguments each takes; the command checks them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"

struct builtin {
	const char *name; /* after FILE_CMD_PREFIX */
	int argc;	  /* argv[0] included */
	bool at_least;	  /* argc is a minimum */
	int (*run)(int argc, char **argv);
};

static const struct builtin builtins[] = {
	{ "file-read", 2, false, builtin_file_read },
	{ "file-stat", 2, false, builtin_file_stat },
	{ "file-list", 2, true, builtin_file_list },
	{ "file-remove", 3, false, builtin_file_remove },
	{ "file-mkdir", 4, false, builtin_file_mkdir },
	{ "file-write", 6, false, builtin_file_write },
	{ "file-move", 4, false, builtin_file_move },
	{ "file-watch", 3, false, builtin_file_watch },
	{ "run-code", 1, false, builtin_run_code },
	{ "bg-start", 2, true, builtin_bg_start },
	{ "bg-status", 2, false, builtin_bg_status },
	{ "bg-kill", 2, false, builtin_bg_kill },
};

const struct guest_user *builtin_user;

int builtin_run(int argc, char **argv)
{
	const char *name = argv[0] + strlen(FILE_CMD_PREFIX);
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		const struct builtin *b = &builtins[i];
		if (strcmp(b->name, name) != 0)
			continue;
		if (argc == b->argc || (b->at_least && argc > b->argc))
			return b->run(argc, argv);
		fprintf(stderr, "%s takes %s%d argument(s), not %d\n", argv[0],
			b->at_least ? "at least " : "", b->argc - 1, argc - 1);
		return EINVAL;
	}
	fprintf(stderr, "unknown built-in command %s\n", argv[0]);
	return EINVAL;
}
