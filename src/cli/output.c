/* What every command prints the same way: usage errors, API errors,
 * help, JSON. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* A command without a name stands for the global options. */
static void print_synopsis(FILE *f, const struct cli_command *cmd)
{
	fprintf(f, "usage: thaw%s%s%s%s\n", cmd->name ? " " : "", cmd->name ? cmd->name : "",
		cmd->args[0] ? " " : "", cmd->args);
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	fflush(stdout);
	fprintf(stderr, "thaw: %s%s", cmd->name ? cmd->name : "", cmd->name ? ": " : "");
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	print_synopsis(stderr, cmd);
	if (cmd->name)
		fprintf(stderr, "Run 'thaw help %s' for details.\n", cmd->name);
	else
		fprintf(stderr, "Run 'thaw --help' for details.\n");
	return EXIT_USAGE;
}

void cli_print_help(const struct cli_command *cmd)
{
	print_synopsis(stdout, cmd);
	printf("\n%s\n", cmd->summary);
	if (cmd->help)
		printf("\n%s", cmd->help);
}

char *cli_printable(const char *s)
{
	char *copy = strdup(s ? s : "");
	if (!copy)
		abort();
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return copy;
}

int cli_fail(thaw_error *e)
{
	char *msg = cli_printable(thaw_error_message(e));
	char *code = cli_printable(thaw_error_code(e));
	char *req = cli_printable(thaw_error_request_id(e));
	fflush(stdout);
	/* The request id is what an operator looks for in thawd's log. */
	if (thaw_error_http_status(e) && *req)
		fprintf(stderr, "thaw: %s (%s, HTTP %d, request %s)\n", msg, code,
			thaw_error_http_status(e), req);
	else if (thaw_error_http_status(e))
		fprintf(stderr, "thaw: %s (%s, HTTP %d)\n", msg, code, thaw_error_http_status(e));
	else
		fprintf(stderr, "thaw: %s (%s)\n", msg, code);
	free(msg);
	free(code);
	free(req);
	thaw_error_free(e);
	return EXIT_FAIL;
}

thaw_client *cli_client(struct cli *cli)
{
	thaw_error *e = NULL;
	if (!cli->client && thaw_client_new(&cli->opts, &cli->client, &e) < 0) {
		cli_fail(e);
		return NULL;
	}
	return cli->client;
}

bool cli_write(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static void json_newline(int depth)
{
	putchar('\n');
	for (int i = 0; i < depth; i++)
		fputs("  ", stdout);
}

/* Re-indents compact JSON (as libthaw produces it) without parsing it:
 * outside strings, only the structural characters matter. */
void cli_print_json(const char *json)
{
	int depth = 0;
	bool in_str = false, esc = false;
	for (const char *p = json; *p; p++) {
		if (in_str) {
			in_str = esc || *p != '"';
			esc = !esc && *p == '\\';
			putchar(*p);
			continue;
		}
		if ((*p == '{' || *p == '[') && (p[1] == '}' || p[1] == ']')) {
			putchar(*p++);
			putchar(*p);
		} else if (*p == '{' || *p == '[') {
			putchar(*p);
			json_newline(++depth);
		} else if (*p == '}' || *p == ']') {
			json_newline(depth > 0 ? --depth : 0);
			putchar(*p);
		} else if (*p == ',') {
			putchar(',');
			json_newline(depth);
		} else if (*p == ':') {
			fputs(": ", stdout);
		} else {
			in_str = *p == '"';
			putchar(*p);
		}
	}
	putchar('\n');
}
