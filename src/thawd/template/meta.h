/* Template metadata (meta.json in each build directory). Written once
 * at bake; read back with strict validation, since a wrong value here
 * would restore a machine that does not match its snapshot. */
#ifndef THAW_META_H
#define THAW_META_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "sha256.h"

/* 2: device state from xen-save-devices-state (format 1 streams carry a
 * configuration section that format 2 VMMs refuse), "source", and
 * sha256 null allowed for memory and rootfs. */
#define META_FORMAT 2
#define META_MAX_BYTES 65536

/* The VMM's device model, which a snapshot's device state must match:
 * 1: microvm with the i8254 PIT (builds without "machine_rev");
 * 2: microvm without the PIT. Linux never used it (the local APIC
 *    timer ticks), but the firmware left it counting, and QEMU woke up
 *    36 times a second to emulate it in every idle VMM. Still what a
 *    kernel that finds its devices through ACPI gets (debian-cloud);
 * 3: no ACPI (virtio-mmio devices named on the kernel command line, the
 *    CPUs and interrupt routing in the firmware's MP table). The PIT is
 *    back: without ACPI's PM timer it is the only clock Linux can check
 *    the local APIC timer against on a CPU without a TSC-deadline timer
 *    (TCG); Linux stops it once the APIC timer runs. Needs a kernel built
 *    for it (thaw's, templates/kernel/; docs/guest-kernel.md). */
#define META_MACHINE_ACPI 2
#define META_MACHINE_REV 3

/* The devices each model above has that others lack. */
static inline bool meta_machine_has_pit(uint32_t rev)
{
	return rev != META_MACHINE_ACPI;
}

static inline bool meta_machine_has_acpi(uint32_t rev)
{
	return rev <= META_MACHINE_ACPI;
}

enum meta_file_role { MF_MEMORY, MF_STATE, MF_ROOTFS, MF_KERNEL, MF_INITRD, MF_COUNT };

struct meta_file {
	/* 0: absent (kernel and initrd of a fork or pause image; the initrd
	 * of a kernel that mounts its root disk itself) */
	uint64_t size;
	/* "" for a memory file or disk captured from a running sandbox for
	 * a fork or a pause: hashing 512 MB is not worth it for an image
	 * that lives as long as its sandboxes. Such a file is trusted while
	 * its ctime is unchanged and refused otherwise. */
	char sha256[SHA256_HEX_LEN + 1];
	/* The file's ctime when it was checksummed. A file whose ctime
	 * differs has been written since and is hashed again before use
	 * (0, from builds that did not record it: always hashed). */
	int64_t ctime_ns;
};

/* Where a build came from. */
enum meta_source { SOURCE_BAKE, SOURCE_SNAPSHOT, SOURCE_FORK, SOURCE_PAUSE, SOURCE_COUNT };

const char *meta_source_name(enum meta_source s);

struct template_meta {
	char name[64];	   /* the template (for images: the sandbox's template) */
	char build_id[48]; /* the build (for images: the image id) */
	enum meta_source source;
	char source_sandbox[32]; /* the sandbox captured; "" for a bake */
	int64_t created_at;
	char vmm[16];
	char vmm_version[64];
	char accel[8];
	char cpu[32];
	uint32_t memory_mb;
	uint32_t vcpus;
	uint32_t machine_rev; /* set at bake (above); captures keep it */
	/* What the build boots, e.g. "thaw 6.1.192 c0ffee12" (kernel
	 * source version and configuration hash) or "debian-cloud
	 * 6.1.0-41-cloud-amd64"; "" from builds that did not record it. */
	char kernel[96];
	char cmdline[1024];
	char agent_version[64];
	double boot_ms;
	double snapshot_ms;
	struct meta_file files[MF_COUNT];
};

/* The fixed file name of each artifact inside a build directory. */
const char *meta_file_name(enum meta_file_role role);
const char *meta_file_role_name(enum meta_file_role role);

/* Returns a new JSON text. */
char *meta_to_json(const struct template_meta *m);
/* ERR_CORRUPT on anything malformed or missing. */
/* A CPU model name QEMU takes as -cpu ("host", "max", "Skylake-Server-v4"):
 * letters, digits, '.', '_', '-', shorter than meta.cpu. */
bool meta_cpu_valid(const char *cpu);
int meta_parse(const char *text, size_t len, struct template_meta *out, struct thaw_err **err);

#endif
