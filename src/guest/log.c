/* The agent's log: lines on stderr, which is the VM's console in PID 1
 * mode (the bake's console log keeps them). */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "agent.h"

void agent_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(2, "thaw-agent: ", 12);
	w = write(2, line, (size_t)n);
	(void)w;
}
