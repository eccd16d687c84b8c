/* The QEMU command line, built in one place so that a bake and every
 * restore of it describe the same machine (device order decides the
 * virtio-mmio slots recorded in the snapshot). */
#ifndef THAW_QEMU_ARGV_H
#define THAW_QEMU_ARGV_H

#include "vmm.h"

/* Returns a NULL-terminated argv owned by the caller (qemu_argv_free).
 * state_fd/tap_fd are the fd numbers as the child will see them (-1:
 * none). */
char **qemu_argv_build(const struct vmm_host *h, const struct vmm_launch *l, const char *qmp_path,
		       int state_fd, int tap_fd);
void qemu_argv_free(char **argv);

#endif
