/* The QEMU command line, built in one place so that a bake and every
 * restore of it describe the same machine (device order decides the
 * virtio-mmio slots recorded in the snapshot). */
#ifndef THAW_QEMU_ARGV_H
#define THAW_QEMU_ARGV_H

#include <stdbool.h>

#include "vmm.h"

/* TCG's translation cache, MiB: QEMU's default is 1 GiB here, and the
 * cache only grows until it is full and flushed, so its bound is what
 * a busy VMM ends up holding. An idle restored guest has ~13 MiB of it
 * (the restore, its first answer and one exec); 64 MiB holds that
 * working set many times over (8 MiB thrashed: exec `true` took 10x as
 * long) and keeps a busy sandbox's VMM 192 MiB smaller than 256 did. */
#define QEMU_TCG_TB_MB 64

/* Every file the VMM uses is inherited at these numbers: a jailed VMM
 * can open nothing by path (vmm/jail.h). QEMU reopens the ones it wants
 * by name through /proc/self/fd/N, which checks the file's permissions
 * against the VMM's own uid: the template's memory is a sealed copy that
 * no one can write, everything writable is the VMM's own. */
enum qemu_child_fd {
	QFD_TAP = 3,
	QFD_STATE,   /* device state to load (restore) */
	QFD_MEMORY,  /* guest RAM: VMM_MEMORY_FD */
	QFD_DISK,    /* root disk */
	QFD_QMP,     /* listening QMP socket, bound by thawd */
	QFD_KERNEL,  /* cold boot */
	QFD_INITRD,  /* cold boot */
	QFD_CONSOLE, /* serial console log */
	QFD_DISK_BASE, /* read-only base under a qcow2 root disk */
	QFD_COUNT_END
};

_Static_assert(QFD_MEMORY == VMM_MEMORY_FD, "memory descriptor number");

/* Which of them this VMM gets. */
struct qemu_fd_set {
	bool state, kernel, initrd, console, disk_base;
};

/* Returns a NULL-terminated argv owned by the caller (qemu_argv_free). */
char **qemu_argv_build(const struct vmm_host *h, const struct vmm_launch *l,
		       const struct qemu_fd_set *fds);
void qemu_argv_free(char **argv);

#endif
