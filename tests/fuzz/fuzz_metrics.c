/* libFuzzer: the Prometheus text writer (common/metrics.c) with label
 * values, help text and sample values taken from the input (label values
 * come from names clients chose: templates, routes). Whatever goes in,
 * every line that comes out is a comment or name{label="value",...}
 * number, and each label value reads back as what was given (cut to
 * METRIC_MAX_VALUE bytes). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:"

static void check(int ok)
{
	if (!ok)
		abort();
}

/* One label value from p (after the opening quote), unescaped into out;
 * returns the position after the closing quote. */
static const char *read_value(const char *p, struct buf *out)
{
	while (*p != '"') {
		check(*p != '\0' && *p != '\n');
		if (*p == '\\') {
			p++;
			check(*p == '\\' || *p == '"' || *p == 'n');
			buf_append(out, *p == 'n' ? "\n" : p, 1);
		} else {
			buf_append(out, p, 1);
		}
		p++;
	}
	return p + 1;
}

/* A sample line; values[i] must equal the i-th label value when given. */
static void check_sample(const char *line, const char *const *values)
{
	size_t n = strspn(line, NAME_CHARS);
	check(n > 0);
	const char *p = line + n;
	size_t i = 0;
	if (*p == '{') {
		p++;
		while (*p != '}') {
			size_t ln = strspn(p, NAME_CHARS);
			check(ln > 0 && p[ln] == '=' && p[ln + 1] == '"');
			bool is_le = ln == 2 && strncmp(p, "le", 2) == 0;
			struct buf v = { 0 };
			p = read_value(p + ln + 2, &v);
			if (values && values[i] && !is_le)
				check(strcmp(buf_cstr(&v), values[i]) == 0);
			buf_free(&v);
			i++;
			if (*p == ',')
				p++;
		}
		p++;
	}
	check(*p == ' ');
	char *end;
	strtod(p + 1, &end);
	check(end > p + 1 && *end == '\0');
}

static char *cut(const char *s)
{
	size_t n = strlen(s);
	if (n > METRIC_MAX_VALUE) {
		n = METRIC_MAX_VALUE;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return strndup(s, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	/* Four NUL-separated strings: two label values, help text, and the
	 * rest's first 8 bytes as a double. */
	char *s = malloc(len + 4);
	if (!s)
		return 0;
	memcpy(s, data, len);
	memset(s + len, 0, 4);
	const char *part[4];
	const char *p = s;
	for (int i = 0; i < 4; i++) {
		part[i] = p;
		p += strlen(p) + (p < s + len ? 1 : 0);
		if (p > s + len)
			p = s + len;
	}
	double v = 0;
	if (strlen(part[3]) >= sizeof(v))
		memcpy(&v, part[3], sizeof(v));
	struct metrics_registry *reg = metrics_registry_new();
	struct metric *c = metric_counter(reg, "f_total", part[2], METRIC_LABELS("a", "b"));
	struct metric *h = metric_histogram(reg, "f_seconds", part[2], METRIC_LABELS("a"), NULL, 0);
	struct metric *g = metric_gauge(reg, "f_gauge", part[2], NULL);
	metric_add(c, METRIC_LABELS(part[0], part[1]), fabs(v));
	metric_observe(h, METRIC_LABELS(part[0]), v);
	metric_set(g, NULL, v);
	struct buf out = { 0 };
	metrics_write(reg, &out);
	char *text = buf_steal(&out, NULL);
	char *a = cut(part[0]), *b = cut(part[1]);
	const char *want[] = { a, b, NULL };
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '#') {
			check(strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0);
			continue;
		}
		bool ours = strncmp(line, "f_total", 7) == 0 || strncmp(line, "f_seconds", 9) == 0;
		check_sample(line, ours ? want : NULL);
	}
	free(a);
	free(b);
	free(text);
	metrics_registry_free(reg);
	free(s);
	return 0;
}
