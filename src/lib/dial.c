/* A plain TCP connection to thawd, for the requests that upgrade it (a
 * shell, a tunnel): curl cannot hand its socket over. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

/* host:port of an http:// URL. */
static int url_host_port(const char *url, char *host, size_t hsize, char *port, size_t psize)
{
	if (strncmp(url, "http://", 7) != 0)
		return -1;
	const char *h = url + 7, *end = h + strcspn(h, "/");
	const char *colon = memchr(h, ':', (size_t)(end - h));
	size_t hl = (size_t)((colon ? colon : end) - h);
	if (!hl || hl >= hsize)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, psize, "%.*s", colon ? (int)(end - colon - 1) : 2, colon ? colon + 1 : "80");
	return 0;
}

int tl_dial(const thaw_client *c, const char *what, thaw_error **err)
{
	char host[256], port[16];
	if (url_host_port(c->url, host, sizeof(host), port, sizeof(port)) < 0)
		return tl_error_set(err, 0, TL_INVALID, "%s needs an http://HOST:PORT URL", what);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0)
		return tl_error_set(err, 0, TL_TRANSPORT, "cannot resolve %s: %s", host,
				    gai_strerror(rc));
	int fd = -1;
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return tl_error_set(err, 0, TL_TRANSPORT, "cannot talk to thawd at %s: %s", c->url,
				    strerror(errno));
	return fd;
}
