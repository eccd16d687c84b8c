/* thaw run-code: run Python in a sandbox's code interpreter. Printed
 * output comes through as it is written; each result's text is printed
 * (the main result's last, like a REPL) and its images are written to
 * files (result-N.png in --out-dir), named on stderr. An exception in the
 * code prints its traceback and exits 1. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define MAX_CODE ((size_t)16 << 20)

struct run_code_args {
	struct cli_list env;
	const char *code, *file, *context, *timeout, *out_dir;
	bool auto_resume;
	int timeout_s;
	int images; /* written so far */
	int write_errno;
};

static int pass_output(int stream, const char *text, size_t len, void *ud)
{
	struct run_code_args *x = ud;
	if (cli_write(stream == 2 ? STDERR_FILENO : STDOUT_FILENO, text, len))
		return 0;
	x->write_errno = errno ? errno : EIO;
	return 1;
}

/* One image of a result into OUT_DIR/result-N.EXT, written whole under a
 * temporary name first so that a reader never sees half a file. */
static int write_image(struct run_code_args *x, const char *b64, const char *ext)
{
	void *data = NULL;
	size_t len = 0;
	if (thaw_base64_decode(b64, &data, &len) < 0) {
		fprintf(stderr, "thaw: a %s result is not base64; skipped\n", ext);
		return 0;
	}
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s/result-%d.%s", x->out_dir, ++x->images, ext);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	bool ok = fd >= 0 && cli_write(fd, data, len) && fsync(fd) == 0;
	if (fd >= 0 && close(fd) < 0)
		ok = false;
	if (ok && rename(tmp, path) < 0)
		ok = false;
	free(data);
	if (!ok) {
		x->write_errno = errno ? errno : EIO;
		unlink(tmp);
		fprintf(stderr, "thaw: cannot write %s: %s\n", path, strerror(x->write_errno));
		return 1;
	}
	fprintf(stderr, "thaw: wrote %s (%zu bytes)\n", path, len);
	return 0;
}

static int on_result(const thaw_code_result *r, void *ud)
{
	struct run_code_args *x = ud;
	const char *images[][2] = { { r->png, "png" }, { r->jpeg, "jpg" }, { r->svg, "svg" },
				    { r->pdf, "pdf" } };
	bool wrote = false;
	for (size_t i = 0; i < sizeof(images) / sizeof(images[0]); i++) {
		if (!images[i][0])
			continue;
		if (i == 2) { /* svg is text, not base64 */
			char path[PATH_MAX];
			snprintf(path, sizeof(path), "%s/result-%d.svg", x->out_dir, ++x->images);
			FILE *f = fopen(path, "w");
			if (!f || fputs(r->svg, f) < 0 || fclose(f) != 0) {
				fprintf(stderr, "thaw: cannot write %s: %s\n", path, strerror(errno));
				return 1;
			}
			fprintf(stderr, "thaw: wrote %s\n", path);
		} else if (write_image(x, images[i][0], images[i][1])) {
			return 1;
		}
		wrote = true;
	}
	/* A figure's text ("<Figure size ...>") says nothing once its image
	 * is in a file. */
	if (r->text && !(wrote && !r->is_main_result)) {
		printf("%s\n", r->text);
		fflush(stdout);
	}
	return 0;
}

static int read_code(const char *file, char **out)
{
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	if (!f) {
		fprintf(stderr, "thaw: cannot open %s: %s\n", file, strerror(errno));
		return EXIT_FAIL;
	}
	size_t cap = 65536, len = 0;
	char *data = malloc(cap + 1);
	size_t n;
	while (data && (n = fread(data + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap && cap < MAX_CODE)
			data = realloc(data, (cap *= 2) + 1);
		else if (len == cap)
			break;
	}
	bool bad = !data || ferror(f) || len >= MAX_CODE;
	if (f != stdin)
		fclose(f);
	if (bad) {
		fprintf(stderr, "thaw: cannot read %s (or it is over %zu MiB)\n", file,
			MAX_CODE >> 20);
		free(data);
		return EXIT_FAIL;
	}
	data[len] = '\0';
	*out = data;
	return 0;
}

static int run_code_call(struct cli *cli, struct run_code_args *x, const char *id,
			 const char *code)
{
	thaw_client *c = cli_client(cli);
	if (!c)
		return EXIT_FAIL;
	thaw_run_code_options o = { .code = code,
				    .context = x->context,
				    .env = x->env.n ? x->env.items : NULL,
				    .timeout_s = x->timeout_s,
				    .auto_resume = x->auto_resume };
	thaw_code_handlers h = { .on_output = pass_output, .on_result = on_result, .userdata = x };
	thaw_code_execution *ex = NULL;
	thaw_error *e = NULL;
	if (thaw_sandbox_run_code(c, id, &o, &h, &ex, &e) < 0) {
		if (x->write_errno) {
			thaw_error_free(e);
			return EXIT_FAIL;
		}
		return cli_fail(e);
	}
	int rc = EXIT_OK;
	if (ex->error_name) {
		if (ex->error_traceback && *ex->error_traceback)
			fputs(ex->error_traceback, stderr);
		else
			fprintf(stderr, "%s: %s\n", ex->error_name, ex->error_value);
		rc = EXIT_FAIL;
	}
	thaw_code_execution_free(ex);
	return rc;
}

static int run_code_run(struct cli *cli, int argc, char **argv)
{
	struct run_code_args x = { .out_dir = "." };
	const struct cli_opt opts[] = {
		{ NULL, 'c', OPT_VALUE, &x.code },   { "file", 'f', OPT_VALUE, &x.file },
		{ "context", 0, OPT_VALUE, &x.context }, { "env", 'e', OPT_LIST, &x.env },
		{ "timeout", 0, OPT_VALUE, &x.timeout }, { "out-dir", 'o', OPT_VALUE, &x.out_dir },
		{ "auto-resume", 0, OPT_FLAG, &x.auto_resume }, { 0 },
	};
	struct cli_args a;
	char *code = NULL;
	int rc = cli_parse(&cmd_run_code, opts, false, argc, argv, &a);
	if (rc == 0)
		rc = cli_want_args(&cmd_run_code, &a, 1, 1);
	if (rc == 0 && !x.code == !x.file)
		rc = cli_usage_error(&cmd_run_code, "give the code with -c CODE or -f FILE (- for stdin)");
	if (rc == 0 && x.timeout &&
	    cli_parse_int(&cmd_run_code, "--timeout", x.timeout, 1, 3600, &x.timeout_s) != 0)
		rc = EXIT_USAGE;
	if (rc != 0) {
		cli_list_free(&x.env);
		return cli_parse_exit(&cmd_run_code, rc);
	}
	if (x.file && (rc = read_code(x.file, &code)) != 0) {
		cli_list_free(&x.env);
		return rc;
	}
	rc = run_code_call(cli, &x, a.pos[0], code ? code : x.code);
	free(code);
	cli_list_free(&x.env);
	return rc;
}

const struct cli_command cmd_run_code = {
	.name = "run-code",
	.args = "[--context CTX] [--env K=V]... [--timeout S] [--out-dir DIR] [--auto-resume] ID "
		"(-c CODE | -f FILE)",
	.summary = "Run Python in a sandbox's code interpreter (state kept between calls).",
	.help = "Output is printed as the code writes it. Each result's text is printed; its\n"
		"images (matplotlib figures, _repr_png_ ...) are written to DIR/result-N.png\n"
		"and named on stderr. An exception prints its traceback and exits 1.\n"
		"\n"
		"Options:\n"
		"  -c CODE          the code\n"
		"  -f, --file FILE  read the code from FILE (- for stdin)\n"
		"  --context CTX    run in that context (default: \"default\")\n"
		"  -e, --env K=V    an environment variable for this run (repeatable)\n"
		"  --timeout S      interrupt the code after S seconds\n"
		"  -o, --out-dir D  where images go (default: .)\n"
		"  --auto-resume    resume the sandbox first if it is paused\n",
	.run = run_code_run,
};
