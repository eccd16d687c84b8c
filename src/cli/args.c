/* Option parsing from a table per command. getopt is not used: exec
 * needs options on both sides of its sandbox id and everything after
 * "--" untouched, and the table gives one error style to every command. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_list_free(struct cli_list *l)
{
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static void list_push(struct cli_list *l, const char *s)
{
	const char **items = realloc(l->items, (l->n + 2) * sizeof(*items));
	if (!items)
		abort();
	items[l->n++] = s;
	items[l->n] = NULL;
	l->items = items;
}

static const struct cli_opt *opt_find(const struct cli_opt *opts, const char *name, size_t len,
				      char short_name)
{
	for (; opts->name || opts->short_name; opts++) {
		if (short_name && opts->short_name == short_name)
			return opts;
		if (!short_name && opts->name && strlen(opts->name) == len &&
		    strncmp(opts->name, name, len) == 0)
			return opts;
	}
	return NULL;
}

static void opt_store(const struct cli_opt *o, const char *value)
{
	if (o->kind == OPT_FLAG)
		*(bool *)o->dest = true;
	else if (o->kind == OPT_VALUE)
		*(const char **)o->dest = value;
	else
		list_push(o->dest, value);
}

/* Finds the option that `a` names, and its inline "--name=value" if any. */
static int opt_lookup(const struct cli_command *cmd, const struct cli_opt *opts, const char *a,
		      const struct cli_opt **found, const char **value)
{
	const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
	size_t len = eq ? (size_t)(eq - a) : strlen(a);
	if ((len == 6 && strncmp(a, "--help", 6) == 0) || strcmp(a, "-h") == 0)
		return CLI_HELP;
	if (a[1] == '-')
		*found = opt_find(opts, a + 2, len - 2, 0);
	else
		*found = a[2] == '\0' ? opt_find(opts, "", 0, a[1]) : NULL;
	if (!*found)
		return cli_usage_error(cmd, "unknown option '%.*s'", (int)len, a);
	if (eq && (*found)->kind == OPT_FLAG)
		return cli_usage_error(cmd, "option '%.*s' takes no value", (int)len, a);
	*value = eq ? eq + 1 : NULL;
	return 0;
}

static int opt_parse(const struct cli_command *cmd, const struct cli_opt *opts, int argc,
		     char **argv, int *i)
{
	const char *a = argv[*i], *value = NULL;
	const struct cli_opt *o = NULL;
	int rc = opt_lookup(cmd, opts, a, &o, &value);
	if (rc != 0)
		return rc;
	if (o->kind != OPT_FLAG && !value) {
		if (*i + 1 >= argc)
			return cli_usage_error(cmd, "option '%s' needs a value", a);
		value = argv[++*i];
	}
	opt_store(o, value);
	return 0;
}

int cli_parse(const struct cli_command *cmd, const struct cli_opt *opts, bool stop_at_pos, int argc,
	      char **argv, struct cli_args *out)
{
	memset(out, 0, sizeof(*out));
	size_t npos = 0;
	int i = 1;
	for (; i < argc; i++) {
		char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			out->dashdash = true;
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			if (stop_at_pos)
				break;
			argv[1 + npos++] = a; /* only slots already read are reused */
			continue;
		}
		int rc = opt_parse(cmd, opts, argc, argv, &i);
		if (rc != 0)
			return rc;
	}
	if (stop_at_pos) {
		out->pos = argv + i;
		out->npos = (size_t)(argc - i);
	} else {
		out->pos = argv + 1;
		out->npos = npos;
		out->rest = argv + i;
		out->nrest = (size_t)(argc - i);
	}
	return 0;
}

int cli_parse_int(const struct cli_command *cmd, const char *opt, const char *s, long min, long max,
		  int *out)
{
	char *end = NULL;
	errno = 0;
	long v = s[0] >= '0' && s[0] <= '9' ? strtol(s, &end, 10) : -1;
	if (!end || *end || errno || v < min || v > max)
		return cli_usage_error(cmd, "%s must be a whole number from %ld to %ld, not '%s'",
				       opt, min, max, s);
	*out = (int)v;
	return 0;
}

int cli_parse_exit(const struct cli_command *cmd, int rc)
{
	if (rc != CLI_HELP)
		return rc;
	cli_print_help(cmd);
	return EXIT_OK;
}

int cli_want_args(const struct cli_command *cmd, const struct cli_args *a, size_t min, size_t max)
{
	if (a->npos < min)
		return cli_usage_error(cmd, "missing argument");
	if (a->npos > max)
		return cli_usage_error(cmd, "unexpected argument '%s'", a->pos[max]);
	if (a->nrest)
		return cli_usage_error(cmd, "unexpected argument '%s' after '--'", a->rest[0]);
	return 0;
}
