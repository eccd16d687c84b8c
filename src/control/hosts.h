/* The fleet's hosts in PostgreSQL: what each thawd says of itself when
 * it joins (registers) and every heartbeat, the state the control plane
 * gives it (up, down, draining), and the sweep that marks a host down
 * when its lease passes. Reports come from hosts over the network: each
 * is validated in full before any row changes. */
#ifndef THAW_CONTROL_HOSTS_H
#define THAW_CONTROL_HOSTS_H

#include <jansson.h>

#include "control/pg.h"

/* A host that sent no heartbeat for this long (4 missed beats of 2 s) is
 * down: with the sweep every second, within 9 s of its last beat, so
 * within 10 s of its end. */
#define HOST_LEASE_S 8

/* POST /v1/fleet/hosts: the whole report (name, address, cpu_model,
 * qemu_version, accel, capacity{}, used{}, templates[]). A host that
 * registers again (a restart) keeps a draining state and counts one
 * more incarnation. */
int hosts_register(struct pg *p, json_t *report, struct thaw_err **err);
/* A heartbeat ({used{}, templates[], sandboxes{}}) from host name:
 * ERR_NOT_FOUND when the control plane does not know it (it registers
 * again). A down host that beats is up again. *moved: the sandboxes it
 * reported that live on another host now (adopted there while it was
 * away): it deletes its copies (a new array; empty when none). */
int hosts_heartbeat(struct pg *p, const char *name, json_t *beat, json_t **moved,
		    struct thaw_err **err);
/* Marks down every host whose lease passed; *n: how many. */
int hosts_sweep(struct pg *p, int *n, struct thaw_err **err);
/* Every host as GET /v1/hosts shows it (a new array). */
int hosts_list(struct pg *p, json_t **out, struct thaw_err **err);
/* No new placements on it; ERR_NOT_FOUND for an unknown host. */
int hosts_drain(struct pg *p, const char *name, struct thaw_err **err);
/* A decommissioned host: only once it is down and holds no running or
 * paused sandbox (ERR_CONFLICT); its lost sandboxes' rows go with it (as
 * tombstones: should it join again with them, it deletes them). */
int hosts_remove(struct pg *p, const char *name, struct thaw_err **err);

#endif
