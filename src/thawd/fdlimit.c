#include "fdlimit.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "cleanup.h"

#define NOFILE_CEILING (1u << 20)

static uint64_t nr_open(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/sys/fs/nr_open", "re");
	unsigned long long v = 0;
	if (!f || fscanf(f, "%llu", &v) != 1 || v == 0)
		return NOFILE_CEILING;
	return v < NOFILE_CEILING ? v : NOFILE_CEILING;
}

void fdlimit_raise(struct fdlimit *out)
{
	struct rlimit rl;
	memset(out, 0, sizeof(*out));
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	out->was_soft = rl.rlim_cur;
	uint64_t want = nr_open();
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		struct rlimit up = { .rlim_cur = want, .rlim_max = want };
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up; /* root (CAP_SYS_RESOURCE): both raised */
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	out->soft = rl.rlim_cur;
	out->hard = rl.rlim_max;
}

long fdlimit_open_fds(void)
{
	_cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	return n - 1; /* the directory's own descriptor */
}

long fdlimit_threads(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long n = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %ld", &n) == 1)
			break;
	return n;
}
