/* A network slot: what one VM needs to be reachable from thawd and from
 * nowhere else. A named network namespace holding a tap device with the
 * fixed host-end address and MAC of guestnet.h, and a permanent neighbour
 * entry for the guest. The tap fd is handed to the VMM. */
#ifndef THAW_SLOT_H
#define THAW_SLOT_H

#include "err.h"

struct netslot {
	char name[96]; /* netns name */
	int ns_fd;     /* the namespace; -1 once closed */
	int tap_fd;    /* open tap queue for the VMM; -1 once handed over */
};

/* Builds the namespace and tap. On failure nothing is left behind. */
int netslot_create(const char *name, struct netslot **out, struct thaw_err **err);

/* Re-opens the namespace of an existing slot (after a restart); the tap
 * belongs to the running VMM, so tap_fd stays -1. */
int netslot_attach(const char *name, struct netslot **out, struct thaw_err **err);

/* Closes thawd's copy of the tap (the VMM keeps its own). */
void netslot_release_tap(struct netslot *s);

/* Removes the namespace (and with it the tap once the VMM is gone) and
 * frees the slot. NULL is fine. */
void netslot_destroy(struct netslot *s);

/* Frees thawd's handle only; the namespace stays for whoever adopts the
 * VMM next. NULL is fine. */
void netslot_close(struct netslot *s);

/* A socket created inside the slot's namespace. */
int netslot_socket(const struct netslot *s, int domain, int type, int *out,
		   struct thaw_err **err);

#endif
