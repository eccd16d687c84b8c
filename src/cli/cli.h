/* The thaw command line. It uses only libthaw's public header: the CLI is
 * the library's first consumer. One file per subcommand, each exporting a
 * struct cli_command that main.c lists in its dispatch table. */
#ifndef THAW_CLI_H
#define THAW_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "thaw.h"

#ifndef THAW_VERSION
#define THAW_VERSION "dev"
#endif

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,	/* the API or the transport failed */
	EXIT_USAGE = 2, /* the command line is wrong */
	EXIT_TIMEOUT = 124,
};

/* State shared by all subcommands: the global options and a client made
 * on first use, so that help and usage errors never touch the network. */
struct cli {
	thaw_client_options opts;
	thaw_client *client;
};

struct cli_command {
	const char *name;
	const char *args;    /* synopsis after the name */
	const char *summary; /* one line for `thaw --help` */
	const char *help;    /* option details for `thaw help NAME`; may be NULL */
	/* argv[0] is the command name. Returns the process exit status. */
	int (*run)(struct cli *cli, int argc, char **argv);
};

extern const struct cli_command cmd_create, cmd_exec, cmd_ls, cmd_get, cmd_rm, cmd_cp, cmd_shell,
	cmd_fork, cmd_pause, cmd_resume, cmd_snapshot, cmd_keepalive, cmd_network, cmd_templates,
	cmd_bake, cmd_health, cmd_files, cmd_hosts, cmd_run_code, cmd_ps, cmd_attach, cmd_port_forward,
	cmd_recover, cmd_metrics;

/* args.c: a table-driven option parser. */
enum cli_opt_kind {
	OPT_FLAG,  /* dest is bool * */
	OPT_VALUE, /* dest is const char **; a repeat replaces the value */
	OPT_LIST,  /* dest is struct cli_list *; every use appends */
};

struct cli_opt {
	const char *name; /* long name without "--"; NULL for a short-only option */
	char short_name;  /* 0 for none */
	enum cli_opt_kind kind;
	void *dest;
};

/* Values of a repeatable option, NULL-terminated; free with cli_list_free. */
struct cli_list {
	const char **items;
	size_t n;
};

void cli_list_free(struct cli_list *l);

struct cli_args {
	char **pos; /* positional arguments before "--" (points into argv) */
	size_t npos;
	char **rest; /* what follows "--" */
	size_t nrest;
	bool dashdash; /* "--" was given */
};

#define CLI_HELP (-1)

/* Parses argv[1..argc) against opts (ended by an all-zero entry). -h and
 * --help are always known. With stop_at_pos, parsing stops at the first
 * positional, which becomes pos[0] with the remainder after it (for the
 * global options before a subcommand). Returns 0, CLI_HELP when help was
 * asked for, or EXIT_USAGE after printing a usage error. Reorders argv. */
int cli_parse(const struct cli_command *cmd, const struct cli_opt *opts, bool stop_at_pos, int argc,
	      char **argv, struct cli_args *out);

/* Turns a non-zero cli_parse result into an exit status: prints the help
 * of cmd for CLI_HELP (then success), passes usage errors through. */
int cli_parse_exit(const struct cli_command *cmd, int rc);

/* Checks that there are min to max positionals and nothing after "--";
 * returns 0 or EXIT_USAGE after printing why. */
int cli_want_args(const struct cli_command *cmd, const struct cli_args *a, size_t min, size_t max);

/* Checks a decimal integer in [min, max]; prints a usage error naming
 * opt and returns EXIT_USAGE otherwise. */
int cli_parse_int(const struct cli_command *cmd, const char *opt, const char *s, long min, long max,
		  int *out);

/* output.c */
/* Prints "thaw: CMD: message" and the synopsis to stderr; returns EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prints the full help of cmd to stdout. */
void cli_print_help(const struct cli_command *cmd);
/* Prints "thaw: message (code, HTTP status)" to stderr, frees e, and
 * returns EXIT_FAIL. */
int cli_fail(thaw_error *e);
/* The shared client, created on first use; NULL after printing why not. */
thaw_client *cli_client(struct cli *cli);
/* A copy of s with control characters replaced by '?': server text must
 * not drive the terminal. Never returns NULL. */
char *cli_printable(const char *s);
/* Writes len bytes to a file descriptor; false on a write error. */
bool cli_write(int fd, const void *data, size_t len);
/* Prints compact JSON text indented by two spaces, with a newline. */
void cli_print_json(const char *json);

/* table.c: aligned text columns; cells are copied and made printable. */
struct cli_table;
struct cli_table *cli_table_new(size_t ncols, const char *const *headers);
/* Adds a row of ncols cells; a NULL cell prints as "-". */
void cli_table_add(struct cli_table *t, const char *const *cells);
/* Prints to stdout and frees the table. */
void cli_table_print(struct cli_table *t);

/* For a sandbox with a database (the create answer's "database"): its
 * connection string and password, on stderr (dbconn.c). */
void cli_print_database(const thaw_sandbox *sb);

#endif
