/* Failpoints: named moments of thawd's operations where a fault test
 * makes a failure happen exactly there, so that a test that failed fails
 * the same way when it is replayed.
 *
 * Off unless thawd runs with --failpoints (tests only). Then an admin
 * key arms one point at a time (POST /v1/debug/failpoint); the next
 * operation to pass it acts once and disarms it:
 *   crash     thawd SIGKILLs itself (a host or daemon crash there);
 *   kill-vmm  the sandbox's VMM is SIGKILLed, and the operation goes on
 *             to find it gone (a VMM crash there).
 * Every point is in failpoint.c's table: arming another is an error. */
#ifndef THAW_FAILPOINT_H
#define THAW_FAILPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct vmm;

void failpoints_enable(void);
bool failpoints_enabled(void);

/* ERR_INVALID for an unknown point or action; ERR_FORBIDDEN when off. */
int failpoint_arm(const char *name, const char *action, struct thaw_err **err);

/* The armed point ("" if none) and how many times points fired. */
void failpoint_status(char *armed, size_t size, uint64_t *fired);

/* The names a test may arm, NULL-terminated. */
const char *const *failpoint_names(void);

/* Passing the point `name`; vmm: the sandbox's VMM there (may be NULL). */
void failpoint(const char *name, const struct vmm *vmm);

#endif
