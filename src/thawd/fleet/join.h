/* A host in a fleet (thawd --join): it registers with the control plane
 * (what it is: address, CPU, QEMU, accelerator, capacity, templates) and
 * heartbeats every 2 s with its load, on a thread of its own. A control
 * plane that does not know it (a new database, a host removed) gets the
 * registration again; one that does not answer is tried again, quietly:
 * the host keeps serving what it runs. */
#ifndef THAW_FLEET_JOIN_H
#define THAW_FLEET_JOIN_H

#include "core/host.h"
#include "hostkey.h"

struct fleet_join;
struct thawd_config;

/* This host's credential with the control plane: what --fleet-secret-file
 * holds, a host key (thaw-control --print-host-key NAME) as it is, or
 * the fleet secret, from which this host's key is derived (hostkey.h).
 * It is both what the host presents and the admin key "control" its
 * API takes. */
int fleet_credential(const struct thawd_config *cfg, char out[HOST_KEY_LEN + 1],
		     struct thaw_err **err);

/* Reads the fleet secret and starts the thread; nothing without --join. */
int fleet_join_start(struct host *h, struct fleet_join **out, struct thaw_err **err);
void fleet_join_stop(struct fleet_join *j);

#endif
