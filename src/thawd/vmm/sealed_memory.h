/* A template's guest memory as the VMMs map it: a copy of memory.bin in
 * a memfd sealed against every write (F_SEAL_WRITE and against resizing).
 *
 * Every sandbox of a template maps the same pages privately (copy on
 * write), so the pages it only reads are shared by all of them. A jailed
 * VMM must open its memory for reading and writing (QEMU before 8.2
 * cannot map a read-only file privately), and a file it can open so, it
 * could also write: one compromised VMM would change the memory of every
 * later clone. A sealed memfd can be opened read-write but never
 * written, by anyone. Only the file's data is copied: the holes (memory
 * the guest never touched) stay holes. */
#ifndef THAW_SEALED_MEMORY_H
#define THAW_SEALED_MEMORY_H

#include <stdint.h>

#include "err.h"

/* Copies the file at path into a new sealed memfd named name; *out is
 * the descriptor (close-on-exec), *copied the bytes of data copied. */
int sealed_memory_from_file(const char *path, const char *name, int *out, uint64_t *copied,
			    struct thaw_err **err);

#endif
