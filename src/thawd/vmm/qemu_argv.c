#include "qemu_argv.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "buf.h"
#include "guestnet.h"

struct argv_builder {
	char **v;
	size_t n;
};

static void add(struct argv_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct argv_builder *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	b->v = xrealloc(b->v, (b->n + 2) * sizeof(char *));
	b->v[b->n++] = s;
	b->v[b->n] = NULL;
}

static void add_machine(struct argv_builder *b, const struct vmm_host *h,
			const struct vmm_launch *l)
{
	const struct vmm_machine *m = l->machine;
	add(b, "-machine");
	/* suppress-vmdesc and send-configuration=off: device state is saved
	 * with xen-save-devices-state (see qemu.c), which writes neither the
	 * configuration section nor the JSON description, so no loader may
	 * expect them. */
	/* Each device is one more thing saved and restored, and some tick.
	 * Without ACPI, QEMU names the virtio-mmio devices on the kernel
	 * command line itself (auto-kernel-cmdline). The RTC stays: without
	 * one, Linux waits a whole second at boot for a clock that never
	 * answers, and starts in 1970. So does the serial console: a virtio
	 * console's driver polls and woke every idle guest. */
	add(b,
	    "microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=%s,pit=%s,"
	    "memory-backend=mem,suppress-vmdesc=on",
	    m->acpi ? "on" : "off", m->pit ? "on" : "off");
	add(b, "-global");
	add(b, "migration.send-configuration=off");
	add(b, "-accel");
	/* TCG's translation cache would grow to 1 GiB on this kind of host
	 * (QEMU's default), past any sane memory limit of the VMM: a bound
	 * (qemu_argv.h), flushed when full, within its overhead allowance. */
	if (h->accel == ACCEL_KVM)
		add(b, "kvm");
	else
		add(b, "tcg,tb-size=%d", QEMU_TCG_TB_MB);
	add(b, "-cpu");
	/* Under KVM a named model must be had whole: enforce makes QEMU
	 * refuse, naming the missing features, rather than hand the guest a
	 * CPU without some that the snapshot was taken with. */
	add(b, "%s%s", m->cpu, h->accel == ACCEL_KVM && strcmp(m->cpu, "host") ? ",enforce" : "");
	add(b, "-smp");
	add(b, "%u", m->vcpus);
	add(b, "-m");
	add(b, "%uM", m->memory_mb);
	add(b, "-object");
	add(b, "memory-backend-file,id=mem,size=%uM,mem-path=/proc/self/fd/%d,share=%s",
	    m->memory_mb, QFD_MEMORY, l->memory_shared ? "on" : "off");
	add(b, "-nodefaults");
	add(b, "-no-user-config");
	add(b, "-display");
	add(b, "none");
	/* A guest reboot or panic ends the VMM: a sandbox never reboots. */
	add(b, "-no-reboot");
}

static void add_devices(struct argv_builder *b, const struct qemu_fd_set *fds)
{
	add(b, "-chardev");
	if (fds->console)
		add(b, "file,id=con,path=/proc/self/fd/%d", QFD_CONSOLE);
	else
		add(b, "null,id=con");
	add(b, "-serial");
	add(b, "chardev:con");
	/* werror/rerror=report: when the store is full (another sandbox
	 * filled it, a capture took the last blocks), a write that needs a
	 * new block fails in the guest with an I/O error. QEMU's default
	 * (werror=enospc) stops the whole VM instead, for good: its guest,
	 * agent included, would never answer again. */
	if (fds->disk_base) {
		/* The overlay names its base only by path; the jailed VMM sees
		 * no path, so the chain is spelled out with descriptors. The
		 * base goes through the page cache (the lazy layer's file
		 * cannot be opened O_DIRECT), the overlay does not. */
		add(b, "-blockdev");
		add(b,
		    "driver=file,node-name=base-file,filename=/proc/self/fd/%d,read-only=on,"
		    "aio=threads",
		    QFD_DISK_BASE);
		add(b, "-blockdev");
		add(b, "driver=raw,node-name=base,file=base-file,read-only=on");
		add(b, "-blockdev");
		add(b,
		    "driver=file,node-name=root-file,filename=/proc/self/fd/%d,aio=threads,"
		    "cache.direct=on",
		    QFD_DISK);
		add(b, "-blockdev");
		add(b, "driver=qcow2,node-name=root,file=root-file,backing=base,cache.direct=on");
		add(b, "-device");
		add(b, "virtio-blk-device,drive=root,werror=report,rerror=report");
	} else {
		add(b, "-drive");
		add(b,
		    "id=root,file=/proc/self/fd/%d,format=raw,if=none,cache=none,aio=threads,"
		    "werror=report,rerror=report",
		    QFD_DISK);
		add(b, "-device");
		add(b, "virtio-blk-device,drive=root");
	}
	add(b, "-netdev");
	add(b, "tap,id=net0,fd=%d", QFD_TAP);
	add(b, "-device");
	/* No guest announce: after a restore QEMU would otherwise make the
	 * guest send gratuitous ARPs (a live-migration feature), a long cold
	 * path in the guest right when we wait for its first answer. */
	add(b, "virtio-net-device,netdev=net0,mac=" GUESTNET_GUEST_MAC ",guest_announce=off");
}

char **qemu_argv_build(const struct vmm_host *h, const struct vmm_launch *l,
		       const struct qemu_fd_set *fds)
{
	struct argv_builder b = { 0 };
	add(&b, "%s", h->binary);
	add(&b, "-name");
	add(&b, "%s", l->name);
	add_machine(&b, h, l);
	add_devices(&b, fds);
	add(&b, "-chardev");
	add(&b, "socket,id=qmp,fd=%d,server=on,wait=off", QFD_QMP);
	add(&b, "-mon");
	add(&b, "chardev=qmp,mode=control");
	if (h->jail) {
		/* QEMU's own seccomp filter, on top of the jail: no
		 * set*id, no new processes, no scheduler or resource
		 * changes, none of the obsolete system calls. */
		add(&b, "-sandbox");
		add(&b, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	}
	if (fds->state) {
		/* The kernel is already in guest RAM: loading it again would
		 * only cost start-up time. */
		add(&b, "-incoming");
		add(&b, "defer");
	} else {
		add(&b, "-kernel");
		add(&b, "/proc/self/fd/%d", QFD_KERNEL);
		if (fds->initrd) {
			add(&b, "-initrd");
			add(&b, "/proc/self/fd/%d", QFD_INITRD);
		}
		add(&b, "-append");
		add(&b, "%s", l->cmdline);
	}
	return b.v;
}

void qemu_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}
