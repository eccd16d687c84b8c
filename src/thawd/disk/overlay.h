/* Flattening a qcow2 overlay onto a raw copy of its base.
 *
 * A sandbox of a streamed template writes into a qcow2 overlay over a
 * base that is in the object store (remote/). Its images (pause, fork,
 * snapshot) are raw disks like every other image, made from a local copy
 * of the base (remote_build_local_copies) plus what the overlay holds:
 * only the overlay's own clusters are read, never the base through it.
 * qemu-img says which clusters those are (map, with the base left out);
 * its answer is checked like any other input. */
#ifndef THAW_DISK_OVERLAY_H
#define THAW_DISK_OVERLAY_H

#include <stdint.h>

#include "err.h"

/* Writes every cluster the qcow2 file at overlay holds onto dst_fd (a
 * raw disk of disk_size bytes holding the base): data clusters are
 * copied, clusters the guest zeroed are punched out. *written: bytes
 * copied. The overlay must not change meanwhile (a clone of a stopped
 * guest's overlay). */
int overlay_flatten(const char *overlay, int dst_fd, uint64_t disk_size, uint64_t *written,
		    struct thaw_err **err);

#endif
