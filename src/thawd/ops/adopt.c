/* Adopting a paused sandbox another host published: its image is
 * imported from the object store (memory and disk streamed, remote/)
 * and the sandbox is recorded here as paused in it, under the same id;
 * a resume then restores it with the code every resume uses. This is how
 * a sandbox moves between hosts (the control plane asks for it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/images.h"
#include "core/quota.h"
#include "core/registry.h"
#include "ids.h"
#include "log.h"
#include "ops/ops.h"
#include "remote/remote.h"
#include "timeutil.h"

int sandbox_adopt(struct host *h, const char *id, const char *image_id, const char *owner,
		  struct thaw_err **err)
{
	if (!id_valid_sandbox(id) || !id_valid_build(image_id))
		return err_set(err, ERR_INVALID, "a sandbox id and an image id are needed");
	if (!h->remote)
		return err_set(err, ERR_UNAVAILABLE,
			       "thawd runs without an object store (--s3-endpoint): there is no "
			       "image to adopt");
	struct sandbox *known = registry_get(h, id);
	if (known) {
		sandbox_unref(h, known);
		return err_set(err, ERR_CONFLICT, "sandbox %s is on this host already", id);
	}
	uint64_t t0 = time_mono_ns();
	struct remote_image ri;
	image_pin(h, image_id); /* no collector takes it before the row names it */
	int rc = remote_import_image(h, image_id, &ri, err);
	if (rc < 0) {
		image_unpin(h, image_id);
		return -1;
	}
	struct sandbox *sb = sandbox_new(h, id);
	snprintf(sb->template_name, sizeof(sb->template_name), "%s", ri.template_name);
	snprintf(sb->build_id, sizeof(sb->build_id), "%s", ri.build_id);
	snprintf(sb->owner, sizeof(sb->owner), "%s",
		 owner	       ? owner
		 : ri.owner[0] ? ri.owner
			       : KEY_NAME_DEFAULT);
	snprintf(sb->image, sizeof(sb->image), "%s", image_id);
	sb->created_at = sb->paused_at = (int64_t)(time_real_ns() / 1000000000ull);
	sb->metadata = xstrdup("{}");
	sb->state = SB_PAUSED;
	rc = sandbox_insert_row(h, sb, err);
	if (rc == 0) {
		registry_add(h, sb);
		quota_count(h->quota, sb->owner, 1, 0);
		log_info("sandbox.adopted", "id=%s image=%s ms=%.1f", id, image_id,
			 ns_to_ms(time_mono_ns() - t0));
	}
	image_unpin(h, image_id);
	sandbox_unref(h, sb);
	return rc < 0 ? err_wrap(err, "adopting sandbox %s", id) : 0;
}
