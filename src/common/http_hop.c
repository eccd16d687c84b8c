#include "http_hop.h"

#include <string.h>
#include <strings.h>

#include "buf.h"

static const char *const hop_headers[] = { "connection",	  "keep-alive",
					   "proxy-authenticate",  "proxy-authorization",
					   "te",		  "trailer",
					   "transfer-encoding",	  "upgrade",
					   "host",		  "content-length",
					   "authorization",	  NULL };

bool http_hop_header(const char *name, size_t len)
{
	for (size_t i = 0; hop_headers[i]; i++)
		if (strlen(hop_headers[i]) == len && strncasecmp(name, hop_headers[i], len) == 0)
			return true;
	return false;
}

char *http_protocols_strip_keys(const char *value)
{
	struct buf out = { 0 };
	const char *p = value;
	while (*p) {
		p += strspn(p, " \t,");
		size_t n = strcspn(p, " \t,");
		if (n && strncmp(p, "thaw-key.", 9) != 0) {
			if (out.len)
				buf_append_str(&out, ", ");
			buf_append(&out, p, n);
		}
		p += n;
	}
	if (!out.len)
		return NULL;
	return buf_steal(&out, NULL);
}
