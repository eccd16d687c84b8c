/* GET /console/...: the web console's static files (console/ at the top
 * of the tree), built into the binary so that the console is the one this
 * binary was built with, works offline and needs no install step. Each
 * file is copied in by the assembler (.incbin), as api/openapi.c does; the
 * Makefile makes this object depend on every file in console/, so editing one
 * rebuilds it. The route is public: these files grant nothing; every data
 * call the page makes uses the API with the key its user typed. */
#include <string.h>

#include "httpapi/httpapi.h"

/* Defines console_<name> and console_<name>_end around the file's bytes. */
#define CONSOLE_FILE(sym, path)                                  \
	__asm__(".section .rodata\n"                             \
		".balign 16\n"                                   \
		".type console_" #sym ", @object\n"              \
		"console_" #sym ":\n"                            \
		".incbin \"console/" path "\"\n"                 \
		"console_" #sym "_end:\n"                        \
		".previous\n");                                  \
	extern const char console_##sym[], console_##sym##_end[]

CONSOLE_FILE(index_html, "index.html");
CONSOLE_FILE(style_css, "style.css");
CONSOLE_FILE(app_js, "app.js");
CONSOLE_FILE(api_js, "api.js");
CONSOLE_FILE(dom_js, "dom.js");
CONSOLE_FILE(charts_js, "charts.js");
CONSOLE_FILE(term_js, "term.js");
CONSOLE_FILE(pages_js, "pages.js");
CONSOLE_FILE(detail_js, "detail.js");

#define JS "text/javascript; charset=utf-8"

static const struct console_file {
	const char *name; /* the path below /console */
	const char *type;
	const char *start, *end;
} console_files[] = {
	{ "/", "text/html; charset=utf-8", console_index_html, console_index_html_end },
	{ "/index.html", "text/html; charset=utf-8", console_index_html, console_index_html_end },
	{ "/style.css", "text/css; charset=utf-8", console_style_css, console_style_css_end },
	{ "/app.js", JS, console_app_js, console_app_js_end },
	{ "/api.js", JS, console_api_js, console_api_js_end },
	{ "/dom.js", JS, console_dom_js, console_dom_js_end },
	{ "/charts.js", JS, console_charts_js, console_charts_js_end },
	{ "/term.js", JS, console_term_js, console_term_js_end },
	{ "/pages.js", JS, console_pages_js, console_pages_js_end },
	{ "/detail.js", JS, console_detail_js, console_detail_js_end },
};

/* The page loads only its own files and talks only to this host (the
 * terminal's WebSocket included); no inline script or style, no frames. */
#define CONSOLE_CSP                                                                     \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	"connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "              \
	"form-action 'none'; frame-ancestors 'none'"

static enum MHD_Result redirect(struct api_req *r)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, "/console/");
	return api_queue(r, MHD_HTTP_MOVED_PERMANENTLY, resp);
}

static const struct console_file *console_find(const char *tail)
{
	for (size_t i = 0; i < sizeof(console_files) / sizeof(console_files[0]); i++)
		if (strcmp(console_files[i].name, tail) == 0)
			return &console_files[i];
	return NULL;
}

enum MHD_Result api_console(struct api_req *r)
{
	if (strcmp(r->url, "/console") == 0)
		return redirect(r);
	const struct console_file *f = console_find(r->tail ? r->tail : "/");
	if (!f)
		return api_reply_fail(r, ERR_NOT_FOUND, "no such console file");
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		(size_t)(f->end - f->start), (void *)(uintptr_t)f->start, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, f->type);
	/* Files change with the binary: always revalidate. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "Content-Security-Policy", CONSOLE_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	return api_queue(r, MHD_HTTP_OK, resp);
}
