/* Aligned text columns for `ls` and `templates`. Widths count UTF-8
 * characters, not bytes, so names with accents still line up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct cli_table {
	size_t ncols;
	size_t nrows; /* the header row included */
	char **cells; /* nrows * ncols, printable copies */
};

struct cli_table *cli_table_new(size_t ncols, const char *const *headers)
{
	struct cli_table *t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->ncols = ncols;
	cli_table_add(t, headers);
	return t;
}

void cli_table_add(struct cli_table *t, const char *const *cells)
{
	char **grown = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*grown));
	if (!grown)
		abort();
	t->cells = grown;
	for (size_t c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] = cli_printable(cells[c] ? cells[c] : "-");
	t->nrows++;
}

static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

void cli_table_print(struct cli_table *t)
{
	size_t *widths = calloc(t->ncols, sizeof(*widths));
	if (!widths)
		abort();
	for (size_t i = 0; i < t->nrows * t->ncols; i++) {
		size_t w = text_width(t->cells[i]);
		if (w > widths[i % t->ncols])
			widths[i % t->ncols] = w;
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			bool last = c + 1 == t->ncols;
			printf("%s%*s", s, last ? 0 : (int)(widths[c] - text_width(s) + 2), "");
			free(t->cells[r * t->ncols + c]);
		}
		putchar('\n');
	}
	free(widths);
	free(t->cells);
	free(t);
}
