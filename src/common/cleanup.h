/* Scope-bound ownership helpers.
 *
 * Every resource that is freed on scope exit is declared with one of these
 * attributes and initialised at its declaration. Ownership leaves a scope
 * only through steal_pointer()/steal_fd(), which hand the value over and
 * leave NULL / -1 behind so the cleanup becomes a no-op. */
#ifndef THAW_CLEANUP_H
#define THAW_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void cleanup_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void cleanup_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define _cleanup_free_ __attribute__((cleanup(cleanup_freep)))
#define _cleanup_close_ __attribute__((cleanup(cleanup_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(cleanup_fclosep)))
#define _cleanup_closedir_ __attribute__((cleanup(cleanup_closedirp)))

static inline void *steal_pointer_impl(void **pp)
{
	void *p = *pp;
	*pp = NULL;
	return p;
}
#define steal_pointer(pp) ((__typeof__(*(pp)))steal_pointer_impl((void **)(pp)))

static inline int steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
