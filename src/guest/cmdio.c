/* What the built-in commands share: their way of failing and of writing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

int cmd_fail(const char *what, const char *path, int e)
{
	fprintf(stderr, "%s %s: %s\n", what, path, strerror(e));
	return e > 0 && e < 256 ? e : EIO;
}

int cmd_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
