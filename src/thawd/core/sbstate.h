/* The sandbox state machine: the states, the transitions allowed between
 * them, and what a restarted thawd does with a sandbox its database says
 * is in each state. Pure data and lookups (no I/O): unit-tested whole in
 * tests/unit/test_sbstate.c. sandbox_set_state (core/sandbox.h) is the one
 * function that changes a sandbox's state, through this table.
 *
 *   creating -> running
 *   running  -> pausing | failed | deleting
 *   pausing  -> paused | running       (running: the capture failed)
 *   paused   -> resuming | deleting
 *   resuming -> running | paused       (paused: the restore failed)
 *   failed   -> deleting | recovering
 *   recovering -> running | failed   (failed: the cold boot or the
 *                                     recipe's recover command failed)
 *
 * A create that fails and a delete that finishes remove the row: they are
 * not transitions. */
#ifndef THAW_SBSTATE_H
#define THAW_SBSTATE_H

#include <stdbool.h>

#include "err.h"

enum sb_state {
	SB_CREATING,
	SB_RUNNING,
	SB_FAILED,
	SB_DELETING,
	SB_PAUSING,
	SB_PAUSED, /* no VMM, no slot: memory, device state and disk in an image */
	SB_RESUMING,
	/* Issue 17: a failed sandbox whose disk was kept, cold-booted on it
	 * (ops/recover.c) */
	SB_RECOVERING,
	SB_STATE_COUNT
};

/* The name in the API and the database ("creating", ...). */
const char *sb_state_name(enum sb_state s);
/* A database row's state is input: ERR_CORRUPT for a name that is none. */
int sb_state_parse(const char *name, enum sb_state *out, struct thaw_err **err);

bool sb_state_may_become(enum sb_state from, enum sb_state to);

/* What a restart does with a sandbox found in a state. */
enum sb_restart_action {
	RESTART_REMOVE,	     /* whatever exists of it goes, and its row */
	RESTART_ADOPT_VM,    /* kept if its VMM still runs and its guest answers */
	RESTART_ADOPT_IMAGE, /* kept if its image is still there */
	RESTART_KEEP,	     /* kept as it is */
};

struct sb_restart_rule {
	enum sb_restart_action action;
	enum sb_state becomes; /* the state it is listed in when kept */
	const char *why;
};

const struct sb_restart_rule *sb_restart_rule(enum sb_state found);

#endif
