#include "http_hop.h"

#include <string.h>
#include <strings.h>

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
