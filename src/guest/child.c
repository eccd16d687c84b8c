/* Setting up a child that runs a command (a session's, a built-in's, a
 * background command's keeper). */
#include <unistd.h>

#include "agent.h"

void child_stdio(int in, int out, int err)
{
	dup2(in, 0);
	dup2(out, 1);
	dup2(err, 2);
	if (close_range(3, ~0u, 0) < 0)
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
}
