#include <stdio.h>
#include <string.h>

#include "httpapi/httpapi.h"

/* Segment-by-segment match; "{}" takes one non-empty segment, a final
 * "**" takes whatever is left (possibly nothing) into *tail. */
static int path_matches(const char *pattern, const char *path, char params[API_MAX_PARAMS][128],
			const char **tail)
{
	int np = 0;
	*tail = NULL;
	while (*pattern && *path) {
		if (*pattern != '/' || *path != '/')
			return 0;
		if (strcmp(pattern, "/**") == 0) {
			*tail = path;
			return 1;
		}
		pattern++, path++;
		size_t plen = strcspn(pattern, "/"), slen = strcspn(path, "/");
		if (plen == 2 && strncmp(pattern, "{}", 2) == 0) {
			if (slen == 0 || slen >= 128 || np >= API_MAX_PARAMS)
				return 0;
			memcpy(params[np], path, slen);
			params[np++][slen] = '\0';
		} else if (plen != slen || strncmp(pattern, path, plen) != 0) {
			return 0;
		}
		pattern += plen, path += slen;
	}
	if (*path == '\0' && strcmp(pattern, "/**") == 0) {
		*tail = "/";
		return 1;
	}
	return *pattern == '\0' && *path == '\0';
}

int api_route_match(const struct api_route *routes, size_t n, const char *method,
		    const char *path, const struct api_route **route,
		    char params[API_MAX_PARAMS][128], const char **tail, char *allow,
		    size_t allow_size)
{
	size_t used = 0;
	allow[0] = '\0';
	int known = 0;
	for (size_t i = 0; i < n; i++) {
		char p[API_MAX_PARAMS][128];
		const char *t = NULL;
		if (!path_matches(routes[i].pattern, path, p, &t))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			*route = &routes[i];
			memcpy(params, p, sizeof(p));
			*tail = t;
			return 1;
		}
		known = 1;
		int w = snprintf(allow + used, allow_size - used, "%s%s", used ? ", " : "",
				 routes[i].method);
		if (w > 0 && (size_t)w < allow_size - used)
			used += (size_t)w;
	}
	return known ? -1 : 0;
}
