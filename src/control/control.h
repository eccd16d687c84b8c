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
	/* Every host's key derives from it (hostkey.h): what a host presents,
	 * and what the control plane presents to that host. */
	char *fleet_secret;
};

#endif
