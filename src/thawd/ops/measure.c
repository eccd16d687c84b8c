#include "ops/measure.h"

#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "core/images.h"
#include "vmm/cgroup.h"

void sandbox_measure(struct host *h, struct sandbox *sb, enum sb_state state,
		     struct sandbox_measures *out)
{
	memset(out, 0, sizeof(*out));
	/* All of a paused sandbox's image is its own. */
	_cleanup_free_ char *path =
		state == SB_PAUSED ? image_dir(h, sb->image) : xasprintf("%s/rootfs.img", sb->dir);
	out->has_disk = disk_usage_of(path, &out->disk, NULL) == 0;
	if (state == SB_PAUSED || !h->vmm.cgroups)
		return;
	_cleanup_free_ char *name = xasprintf("%s%s", h->ns_prefix, sb->id);
	out->has_resources =
		cgroup_vmm_read(h->vmm.cgroups, name, &out->limits, &out->memory_used, NULL) == 0;
}
