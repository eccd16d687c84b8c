/* thaw-control: one service in front of many thawd hosts. Stateless: its
 * state is in PostgreSQL (control/pg.h), so any number of instances can
 * serve the same fleet, and a restart loses nothing. */
#ifndef THAW_CONTROL_H
#define THAW_CONTROL_H

#include "control/config.h"
#include "control/pg.h"

struct control {
	const struct control_config *cfg;
	struct pg *pg;
	unsigned char fleet_digest[32]; /* SHA-256 of the fleet secret */
	char *fleet_secret; /* what the control plane presents to hosts (their admin key) */
};

#endif
