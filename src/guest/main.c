#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "guestnet.h"

static void usage(void)
{
	fputs("usage: thaw-agent                       (as PID 1 in a thaw VM)\n"
	      "       thaw-agent --listen ADDR:PORT [--no-system]\n"
	      "  --no-system  never touch the clock, RNG, hostname or mounts (tests)\n",
	      stderr);
}

static int parse_listen(const char *arg, struct agent_opts *o)
{
	static char addr[64];
	const char *colon = strrchr(arg, ':');
	if (!colon || (size_t)(colon - arg) >= sizeof(addr))
		return -1;
	memcpy(addr, arg, (size_t)(colon - arg));
	addr[colon - arg] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -1;
	o->listen_addr = addr;
	o->port = (int)port;
	return 0;
}

int main(int argc, char **argv)
{
	struct agent_opts o = { .listen_addr = "0.0.0.0",
				.port = GUESTNET_AGENT_PORT,
				.system = true };
	bool stage2 = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--stage2") == 0)
			stage2 = true;
		else if (strcmp(argv[i], "--no-system") == 0)
			o.system = false;
		else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			if (parse_listen(argv[++i], &o) < 0) {
				usage();
				return 2;
			}
		} else if (getpid() != 1) {
			/* The kernel passes unknown boot parameters to init: only
			 * complain when we are not init. */
			usage();
			return 2;
		}
	}
	/* From an initramfs (a kernel with its drivers as modules): stage 1
	 * loads them and execs us again from the root disk with --stage2.
	 * A kernel that mounts the root disk itself starts us there. */
	if (getpid() == 1 && !stage2) {
		if (boot_from_initramfs())
			boot_stage1();
		stage2 = true;
	}
	if (stage2)
		boot_stage2();
	for (;;) {
		server_run(&o);
		if (getpid() != 1)
			return 1;
		sleep(1); /* PID 1 must never exit; try again */
	}
}
