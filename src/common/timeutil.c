#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>

int time_parse_rfc3339(const char *s, int64_t *out)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	int64_t offset = 0;
	int hh, mm, n = 0;
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) == 2 &&
		 n == 5)
		offset = (*p == '+' ? 1 : -1) * (int64_t)(hh * 3600 + mm * 60), p += 1 + n;
	else
		return -1;
	if (*p)
		return -1;
	*out = (int64_t)timegm(&tm) - offset;
	return 0;
}

int time_parse_api(const char *s, int64_t *out)
{
	size_t digits = 0;
	while (s[digits] >= '0' && s[digits] <= '9')
		digits++;
	if (digits == 0 || s[digits])
		return time_parse_rfc3339(s, out);
	if (digits > 12) /* past the year 30000: no time anyone means */
		return -1;
	*out = strtoll(s, NULL, 10);
	return 0;
}
