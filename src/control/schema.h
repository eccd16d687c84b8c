/* The control plane's schema in PostgreSQL, versioned like thawd's
 * SQLite one: an ordered list of migrations, each applied once in its own
 * transaction with the version it reaches. Instances starting at once
 * take turns (an advisory lock); one that finds a newer schema than it
 * knows refuses to run. */
#ifndef THAW_CONTROL_SCHEMA_H
#define THAW_CONTROL_SCHEMA_H

#include "control/pg.h"

#define CONTROL_SCHEMA_VERSION 6

int schema_migrate(struct pg *p, struct thaw_err **err);

#endif
