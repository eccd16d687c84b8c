/* src/thawd/vmm/qemu_argv.c: the QEMU command line for a cold boot (bake)
 * and for a restore must describe the same machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guestnet.h"
#include "vmm/jail.h"
#include "vmm/qemu_argv.h"

static const struct vmm_host host_kvm = { .binary = "/usr/bin/qemu-system-x86_64",
					  .accel = ACCEL_KVM,
					  .jail = &(struct jail_plan){ 0 } };
static const struct vmm_machine machine = {
	.memory_mb = 512, .vcpus = 2, .cpu = "host", .accel = ACCEL_KVM
};

static struct vmm_launch launch(bool restore)
{
	struct vmm_launch l = {
		.name = "thaw-abc123-sb-x",
		.run_dir = "/var/lib/thaw/run/sb-x",
		.machine = &machine,
		.memory_path = "/var/lib/thaw/store/sb-x/memory.bin",
		.memory_shared = !restore,
		.disk_path = "/var/lib/thaw/store/sb-x/rootfs.img",
		.tap_fd = 11,
		.netns_fd = 9,
		.console_path = "/var/lib/thaw/run/sb-x/console.log",
		.kernel = "/var/lib/thaw/templates/t/vmlinuz",
		.initrd = "/var/lib/thaw/templates/t/initrd.img",
		.cmdline = "console=ttyS0 quiet init=/sbin/thaw-agent",
		.state_fd = restore ? 12 : -1,
	};
	return l;
}

static const struct qemu_fd_set boot_fds = { .kernel = true, .initrd = true, .console = true };
static const struct qemu_fd_set restore_fds = { .state = true, .console = true };

static char **build_boot(void)
{
	struct vmm_launch l = launch(false);
	return qemu_argv_build(&host_kvm, &l, &boot_fds);
}

static char **build_restore(void)
{
	struct vmm_launch l = launch(true);
	return qemu_argv_build(&host_kvm, &l, &restore_fds);
}

static size_t argc_of(char **argv)
{
	size_t n = 0;
	while (argv[n])
		n++;
	return n;
}

/* Index of the first argument equal to s, or -1. */
static long find(char **argv, const char *s)
{
	for (size_t i = 0; argv[i]; i++)
		if (strcmp(argv[i], s) == 0)
			return (long)i;
	return -1;
}

static size_t count(char **argv, const char *s)
{
	size_t n = 0;
	for (size_t i = 0; argv[i]; i++)
		n += strcmp(argv[i], s) == 0;
	return n;
}

/* The value following option opt (which must appear exactly once). */
static const char *value_of(char **argv, const char *opt)
{
	assert_int_equal(count(argv, opt), 1);
	long i = find(argv, opt);
	assert_non_null(argv[i + 1]);
	return argv[i + 1];
}

static const char *memory_backend(char **argv)
{
	for (size_t i = 0; argv[i]; i++)
		if (strncmp(argv[i], "memory-backend-file,", 20) == 0)
			return argv[i];
	fail_msg("no memory-backend-file argument");
	return NULL;
}

static void test_cold_boot_loads_kernel_and_shares_memory(void **state)
{
	(void)state;
	char **argv = build_boot();
	assert_string_equal(argv[0], host_kvm.binary);
	/* Files come as descriptors: a jailed VMM sees no path of the host. */
	assert_string_equal(value_of(argv, "-kernel"), "/proc/self/fd/8");
	assert_string_equal(value_of(argv, "-initrd"), "/proc/self/fd/9");
	/* The command line is one argument, spaces and all. */
	assert_string_equal(value_of(argv, "-append"), "console=ttyS0 quiet init=/sbin/thaw-agent");
	assert_int_equal(find(argv, "-incoming"), -1);
	const char *mem = memory_backend(argv);
	assert_non_null(strstr(mem, ",share=on"));
	assert_null(strstr(mem, "share=off"));
	assert_non_null(strstr(mem, "mem-path=/proc/self/fd/5,"));
	qemu_argv_free(argv);
}

static void test_restore_defers_incoming_and_keeps_memory_private(void **state)
{
	(void)state;
	char **argv = build_restore();
	assert_string_equal(argv[0], host_kvm.binary);
	assert_string_equal(value_of(argv, "-incoming"), "defer");
	assert_int_equal(find(argv, "-kernel"), -1);
	assert_int_equal(find(argv, "-initrd"), -1);
	assert_int_equal(find(argv, "-append"), -1);
	const char *mem = memory_backend(argv);
	assert_non_null(strstr(mem, ",share=off"));
	assert_null(strstr(mem, "share=on"));
	qemu_argv_free(argv);
}

/* Removes the boot- or restore-only options (and their values) and
 * masks share=on/off; what is left is the machine description. */
static char **machine_description(char **argv)
{
	static const char *const boot_only[] = { "-kernel", "-initrd", "-append", "-incoming" };
	size_t n = argc_of(argv), k = 0;
	char **out = calloc(n + 1, sizeof(char *));
	assert_non_null(out);
	for (size_t i = 0; i < n; i++) {
		bool skip_pair = false;
		for (size_t j = 0; j < sizeof(boot_only) / sizeof(boot_only[0]); j++)
			skip_pair |= strcmp(argv[i], boot_only[j]) == 0;
		if (skip_pair) {
			i++;
			continue;
		}
		out[k] = strdup(argv[i]);
		assert_non_null(out[k]);
		char *share = strstr(out[k], "share=o");
		if (share && strncmp(out[k], "memory-backend-file,", 20) == 0)
			share[strlen("share=")] = '\0';
		k++;
	}
	return out;
}

static void test_boot_and_restore_describe_the_same_machine(void **state)
{
	(void)state;
	char **boot = build_boot(), **restore = build_restore();
	/* The lists do differ before normalising. */
	assert_true(argc_of(boot) != argc_of(restore));
	char **a = machine_description(boot), **b = machine_description(restore);
	assert_int_equal(argc_of(a), argc_of(b));
	assert_int_equal(argc_of(a), argc_of(boot) - 6);
	assert_int_equal(argc_of(b), argc_of(restore) - 2);
	for (size_t i = 0; a[i]; i++)
		if (strcmp(a[i], b[i]) != 0)
			fail_msg("argument %zu differs: boot \"%s\", restore \"%s\"", i, a[i],
				 b[i]);
	qemu_argv_free(a);
	qemu_argv_free(b);
	qemu_argv_free(boot);
	qemu_argv_free(restore);
}

static void test_no_reboot_is_always_present(void **state)
{
	(void)state;
	char **boot = build_boot(), **restore = build_restore();
	assert_int_equal(count(boot, "-no-reboot"), 1);
	assert_int_equal(count(restore, "-no-reboot"), 1);
	assert_int_equal(count(boot, "-nodefaults"), 1);
	qemu_argv_free(boot);
	qemu_argv_free(restore);
}

/* Device state saved without a configuration section or description
 * (xen-save-devices-state) must load: every VMM, baking or restoring,
 * expects neither. */
static void test_state_streams_need_no_configuration_section(void **state)
{
	(void)state;
	char **v[2] = { build_boot(), build_restore() };
	for (int k = 0; k < 2; k++) {
		assert_string_equal(value_of(v[k], "-global"), "migration.send-configuration=off");
		assert_non_null(strstr(value_of(v[k], "-machine"), ",suppress-vmdesc=on"));
		qemu_argv_free(v[k]);
	}
}

static void test_tap_fd_is_passed_to_the_netdev(void **state)
{
	(void)state;
	char **argv = build_restore();
	assert_string_equal(value_of(argv, "-netdev"), "tap,id=net0,fd=3");
	qemu_argv_free(argv);
	argv = build_boot();
	assert_string_equal(value_of(argv, "-netdev"), "tap,id=net0,fd=3");
	/* The guest NIC has the fixed MAC every snapshot was baked with. */
	assert_int_equal(count(argv, "virtio-net-device,netdev=net0,mac=" GUESTNET_GUEST_MAC
				     ",guest_announce=off"),
			 1);
	qemu_argv_free(argv);
}

static void test_machine_shape_follows_the_template(void **state)
{
	(void)state;
	char **argv = build_boot();
	assert_string_equal(value_of(argv, "-accel"), "kvm");
	assert_string_equal(value_of(argv, "-cpu"), "host");
	assert_string_equal(value_of(argv, "-smp"), "2");
	assert_string_equal(value_of(argv, "-m"), "512M");
	assert_non_null(strstr(memory_backend(argv), "size=512M,"));
	assert_string_equal(value_of(argv, "-name"), "thaw-abc123-sb-x");
	/* QMP on the listening socket thawd bound and passed in. */
	assert_int_equal(find(argv, "-qmp"), -1);
	assert_int_equal(count(argv, "socket,id=qmp,fd=7,server=on,wait=off"), 1);
	assert_string_equal(value_of(argv, "-mon"), "chardev=qmp,mode=control");
	assert_string_equal(value_of(argv, "-drive"),
			    "id=root,file=/proc/self/fd/6,format=raw,if=none,cache=none,aio=threads,"
			    "werror=report,rerror=report");
	assert_int_equal(count(argv, "file,id=con,path=/proc/self/fd/10"), 1);
	qemu_argv_free(argv);

	const struct vmm_host tcg = { .binary = "qemu", .accel = ACCEL_TCG };
	const struct vmm_machine big = { .memory_mb = 4096, .vcpus = 8, .cpu = "max" };
	struct vmm_launch l = launch(true);
	l.machine = &big;
	const struct qemu_fd_set no_console = { .state = true };
	argv = qemu_argv_build(&tcg, &l, &no_console);
	assert_string_equal(argv[0], "qemu");
	assert_string_equal(value_of(argv, "-accel"), "tcg,tb-size=64");
	assert_string_equal(value_of(argv, "-cpu"), "max");
	assert_string_equal(value_of(argv, "-smp"), "8");
	assert_string_equal(value_of(argv, "-m"), "4096M");
	/* No console file: the serial output is discarded. */
	assert_int_equal(count(argv, "null,id=con"), 1);
	/* Unjailed (debugging only): no seccomp filter either. */
	assert_int_equal(find(argv, "-sandbox"), -1);
	qemu_argv_free(argv);
}

/* A template's device model is what its snapshot holds: an i8254 PIT
 * only where the template's model has one (machine_rev 1 and 3). */
static void test_the_pit_only_for_templates_that_have_one(void **state)
{
	(void)state;
	const struct vmm_host tcg = { .binary = "qemu", .accel = ACCEL_TCG };
	const struct qemu_fd_set fds = { .state = true };
	struct vmm_launch l = launch(true);
	char **argv = qemu_argv_build(&tcg, &l, &fds);
	assert_non_null(strstr(value_of(argv, "-machine"), "microvm,"));
	assert_non_null(strstr(value_of(argv, "-machine"), ",pit=off,"));
	qemu_argv_free(argv);
	const struct vmm_machine legacy = { .memory_mb = 512, .vcpus = 1, .cpu = "max",
					    .pit = true };
	l.machine = &legacy;
	argv = qemu_argv_build(&tcg, &l, &fds);
	assert_non_null(strstr(value_of(argv, "-machine"), ",pit=on,"));
	qemu_argv_free(argv);
}

/* thaw's kernel: no ACPI (QEMU names the devices on the kernel command
 * line). A kernel that needs ACPI (debian-cloud, machine_rev 2) has it.
 * Both keep the serial console. */
static void test_acpi_only_for_kernels_that_need_it(void **state)
{
	(void)state;
	const struct vmm_host tcg = { .binary = "qemu", .accel = ACCEL_TCG };
	const struct qemu_fd_set fds = { .state = true, .console = true };
	struct vmm_launch l = launch(true);
	char **argv = qemu_argv_build(&tcg, &l, &fds);
	assert_non_null(strstr(value_of(argv, "-machine"), ",acpi=off,"));
	assert_string_equal(value_of(argv, "-serial"), "chardev:con");
	qemu_argv_free(argv);
	const struct vmm_machine acpi = { .memory_mb = 512, .vcpus = 1, .cpu = "max", .acpi = true };
	l.machine = &acpi;
	argv = qemu_argv_build(&tcg, &l, &fds);
	assert_non_null(strstr(value_of(argv, "-machine"), ",acpi=on,"));
	assert_string_equal(value_of(argv, "-serial"), "chardev:con");
	qemu_argv_free(argv);
}

/* A kernel with its drivers built in boots without an initrd. */
static void test_no_initrd_when_the_build_has_none(void **state)
{
	(void)state;
	const struct qemu_fd_set fds = { .kernel = true, .console = true };
	struct vmm_launch l = launch(false);
	l.initrd = NULL;
	char **argv = qemu_argv_build(&host_kvm, &l, &fds);
	assert_string_equal(value_of(argv, "-kernel"), "/proc/self/fd/8");
	assert_int_equal(find(argv, "-initrd"), -1);
	qemu_argv_free(argv);
}

/* QEMU's own seccomp filter on every jailed VMM, bake and restore. */
static void test_jailed_vmms_run_under_seccomp(void **state)
{
	(void)state;
	char **v[2] = { build_boot(), build_restore() };
	for (int k = 0; k < 2; k++) {
		assert_string_equal(value_of(v[k], "-sandbox"),
				    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
				    "resourcecontrol=deny");
		qemu_argv_free(v[k]);
	}
}

static void test_free_accepts_null(void **state)
{
	(void)state;
	qemu_argv_free(NULL);
	char **argv = build_boot();
	assert_null(argv[argc_of(argv)]);
	qemu_argv_free(argv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cold_boot_loads_kernel_and_shares_memory),
		cmocka_unit_test(test_restore_defers_incoming_and_keeps_memory_private),
		cmocka_unit_test(test_boot_and_restore_describe_the_same_machine),
		cmocka_unit_test(test_no_reboot_is_always_present),
		cmocka_unit_test(test_state_streams_need_no_configuration_section),
		cmocka_unit_test(test_tap_fd_is_passed_to_the_netdev),
		cmocka_unit_test(test_machine_shape_follows_the_template),
		cmocka_unit_test(test_free_accepts_null),
		cmocka_unit_test(test_the_pit_only_for_templates_that_have_one),
		cmocka_unit_test(test_acpi_only_for_kernels_that_need_it),
		cmocka_unit_test(test_no_initrd_when_the_build_has_none),
		cmocka_unit_test(test_jailed_vmms_run_under_seccomp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
