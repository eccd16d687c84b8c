#include "core/host.h"

int host_check_machine(const struct host *h, const char *template_name, uint32_t memory_mb,
		       uint32_t vcpus, enum err_code code, struct thaw_err **err)
{
	const struct thawd_config *cfg = h->cfg;
	if (memory_mb > cfg->max_memory_mb)
		return err_set(err, code,
			       "template %s has %u MiB of RAM; this host allows at most %u "
			       "(--max-memory)",
			       template_name, memory_mb, cfg->max_memory_mb);
	if (vcpus > cfg->max_vcpus)
		return err_set(err, code,
			       "template %s has %u vCPUs; this host allows at most %u (--max-vcpus)",
			       template_name, vcpus, cfg->max_vcpus);
	return 0;
}
