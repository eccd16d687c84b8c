/* Adopting a paused sandbox another host published: its image is
 * imported from the object store (memory and disk streamed, remote/)
 * and the sandbox is recorded here as paused in it, under the same id;
 * a resume then restores it with the code every resume uses. This is how
 * a sandbox moves between hosts (the control plane asks for it). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/images.h"
#include "core/vmstart.h"
#include "disk/disk.h"
#include "template/build.h"
#include "core/quota.h"
#include "core/registry.h"
#include "core/sandbox.h"
#include "ids.h"
#include "log.h"
#include "net/netpolicy.h"
#include "ops/ops.h"
#include "remote/remote.h"
#include "timeutil.h"
#include "buf.h"

int sandbox_adopt(struct host *h, const char *id, const char *image_id, const char *owner,
		  const struct netpolicy *network, const char *env, struct thaw_err **err)
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
	sb->env = env ? xstrdup(env) : NULL;
	sb->netpolicy = network ? netpolicy_copy(network) : netpolicy_default();
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

int sandbox_adopt_child(struct host *h, const char *id, const struct child_spec *spec,
			struct sandbox **out, struct thaw_err **err)
{
	if (!id_valid_sandbox(id) || !spec->image || !id_valid_build(spec->image) ||
	    !spec->parent || !id_valid_sandbox(spec->parent))
		return err_set(err, ERR_INVALID, "a sandbox id, an image id and a parent are needed");
	if (!h->remote)
		return err_set(err, ERR_UNAVAILABLE,
			       "thawd runs without an object store (--s3-endpoint): there is no "
			       "image to start from");
	struct sandbox *known = registry_get(h, id);
	if (known) {
		sandbox_unref(h, known);
		return err_set(err, ERR_CONFLICT, "sandbox %s is on this host already", id);
	}
	struct vm_clock clk = { .t0 = time_mono_ns() };
	struct remote_image ri;
	struct template *img = NULL;
	image_pin(h, spec->image); /* until the child's row names it */
	const char *owner = spec->owner ? spec->owner : KEY_NAME_DEFAULT;
	/* Siblings on this host share one import: the first makes it, the
	 * others (waiting here meanwhile) find it. */
	static pthread_mutex_t importing = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&importing);
	struct thaw_err *ierr = NULL;
	int irc = remote_import_image(h, spec->image, &ri, &ierr);
	pthread_mutex_unlock(&importing);
	if (irc < 0 && ierr->code == ERR_CONFLICT && ri.template_name[0]) {
		err_free(ierr);
		irc = 0;
	} else if (irc < 0) {
		if (err && !*err)
			*err = ierr;
		else
			err_free(ierr);
	}
	if (irc < 0 || image_load(h, spec->image, &img, err) < 0 || vm_check_fits(h, img, err) < 0 ||
	    disk_store_check_room(h->store, 0, "start a fork child", err) < 0 ||
	    quota_reserve(h->quota, owner, 0, 1, 1, err) < 0) {
		build_free(img);
		image_unpin(h, spec->image);
		return err_wrap(err, "starting fork child %s of %s", id, spec->parent);
	}
	clk.template = time_mono_ns();
	struct sandbox *sb = sandbox_new(h, id);
	snprintf(sb->template_name, sizeof(sb->template_name), "%s", ri.template_name);
	snprintf(sb->build_id, sizeof(sb->build_id), "%s", ri.build_id);
	snprintf(sb->image, sizeof(sb->image), "%s", spec->image);
	snprintf(sb->parent, sizeof(sb->parent), "%s", spec->parent);
	snprintf(sb->owner, sizeof(sb->owner), "%s", owner);
	sb->created_at = (int64_t)(time_real_ns() / 1000000000ull);
	sb->timeout_s = spec->timeout_s;
	sb->timeout_at = deadline_after(spec->timeout_s);
	sb->metadata = xstrdup(spec->metadata ? spec->metadata : "{}");
	sb->env = spec->env ? xstrdup(spec->env) : NULL;
	sb->netpolicy = spec->network ? netpolicy_copy(spec->network) : netpolicy_default();
	sb->state = SB_CREATING;
	struct vm_start vs = { .from = img, .use_pools = true, .failpoint = "fork.child" };
	int rc = sandbox_start_new(h, sb, &vs, &clk, err);
	build_free(img);
	image_unpin(h, spec->image);
	if (rc < 0)
		return err_wrap(err, "starting fork child %s of %s", id, spec->parent);
	/* A fleet fork's child on this host: its own secrets, as on the
	 * parent's host (ops/fork.c); without them it goes. */
	if (sandbox_clone_hook(h, sb, NULL, err) < 0) {
		sandbox_delete(h, sb->id, NULL);
		sandbox_unref(h, sb);
		return err_wrap(err, "starting fork child %s of %s", id, spec->parent);
	}
	log_info("sandbox.adopted_child", "id=%s parent=%s image=%s ms=%.1f", id, spec->parent,
		 spec->image, ns_to_ms(time_mono_ns() - clk.t0));
	*out = sb;
	return 0;
}
