/* Warm VMMs: for every ready template, a few VMM processes already
 * started, each in its own network slot with its own disk clone, waiting
 * for the template's device state. A create that finds one only loads the
 * state, resumes and probes: the VMM start (tens of milliseconds of
 * process and machine set-up) is off its path.
 *
 * Each entry already has the sandbox id it will carry, so its VMM, its
 * directories and its slot are named as a sandbox's are; a thawd that dies
 * with entries in the pool finds them unclaimed at the next start and
 * removes them like any other leftover. A background thread keeps the
 * pool full, replaces entries of a template that was baked again, drops
 * entries whose VMM died, and starts nothing while the host's available
 * memory is below a floor. */
#ifndef THAW_VMMPOOL_H
#define THAW_VMMPOOL_H

#include <stdint.h>

#include "err.h"
#include "ids.h"

struct host;
struct netslot;
struct vmm;
struct vmmpool;

struct pooled_vmm {
	char id[SANDBOX_ID_LEN + 1];
	char template_name[64];
	char build_id[48];
	struct netslot *slot;
	struct vmm *vmm;
	/* Restored ahead of time and probed once: a create only gives it its
	 * fresh identity (clock, entropy, hostname) with one more HELLO. */
	bool restored;
};

/* restore_ahead: entries are restored and probed while they wait (the
 * guest idles in its VM), instead of waiting before their state load. */
int vmmpool_start(struct host *h, unsigned depth, bool restore_ahead, unsigned min_free_mb,
		  struct vmmpool **out, struct thaw_err **err);
/* Stops the thread and removes every entry. */
void vmmpool_stop(struct vmmpool *p);

/* An entry for this exact build, or NULL. The caller owns it; its id,
 * slot and VMM become the new sandbox's. */
struct pooled_vmm *vmmpool_take(struct vmmpool *p, const char *template_name,
				const char *build_id);
/* Frees what take handed over once the caller has taken its parts. */
void pooled_vmm_free(struct pooled_vmm *pv);

/* Something changed (a bake finished): refill now. */
void vmmpool_poke(struct vmmpool *p);

struct vmmpool_stats {
	unsigned depth, ready;
	uint64_t taken, started, discarded;
};
void vmmpool_stats(struct vmmpool *p, struct vmmpool_stats *out);
/* Warm VMMs waiting for template_name (any build): "ready" counts every
 * template's, and a create takes only its own template's. */
unsigned vmmpool_ready_for(struct vmmpool *p, const char *template_name);
/* The ids waiting entries (and the one being started) will carry, for
 * inventories; free the array. */
char (*vmmpool_ids(struct vmmpool *p, size_t *n))[SANDBOX_ID_LEN + 1];

#endif
