#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cleanup.h"
#include "vmm.h"

static const char *const accel_names[] = { "auto", "kvm", "tcg" };

int accel_parse(const char *s, enum vmm_accel *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(accel_names); i++) {
		if (strcmp(s, accel_names[i]) == 0) {
			*out = (enum vmm_accel)i;
			return 0;
		}
	}
	return -1;
}

const char *accel_name(enum vmm_accel a)
{
	return accel_names[a];
}

static int cpu_has_virt_flags(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return 0;
	char line[8192];
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		return strstr(line, " vmx") || strstr(line, " svm");
	}
	return 0;
}

static int kvm_answers(void)
{
	_cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return 0;
	int vm = ioctl(fd, KVM_CREATE_VM, 0);
	if (vm < 0)
		return 0;
	close(vm);
	return 1;
}

enum vmm_accel accel_resolve(enum vmm_accel want, char *why, size_t why_size)
{
	if (want != ACCEL_AUTO) {
		snprintf(why, why_size, "%s asked for", accel_name(want));
		return want;
	}
	if (!cpu_has_virt_flags()) {
		snprintf(why, why_size, "no vmx/svm CPU flag: using TCG");
		return ACCEL_TCG;
	}
	if (!kvm_answers()) {
		snprintf(why, why_size, "/dev/kvm does not answer: using TCG");
		return ACCEL_TCG;
	}
	snprintf(why, why_size, "hardware virtualisation available: using KVM");
	return ACCEL_KVM;
}
