#include "core/sbstate.h"

#include <string.h>

static const char *const names[SB_STATE_COUNT] = {
	[SB_CREATING] = "creating", [SB_RUNNING] = "running", [SB_FAILED] = "failed",
	[SB_DELETING] = "deleting", [SB_PAUSING] = "pausing", [SB_PAUSED] = "paused",
	[SB_RESUMING] = "resuming", [SB_RECOVERING] = "recovering",
};

#define TO(s) (1u << (s))

/* Per state, the states it may become. */
static const unsigned allowed[SB_STATE_COUNT] = {
	[SB_CREATING] = TO(SB_RUNNING),
	[SB_RUNNING] = TO(SB_PAUSING) | TO(SB_FAILED) | TO(SB_DELETING),
	/* The capture failed: it runs on. */
	[SB_PAUSING] = TO(SB_PAUSED) | TO(SB_RUNNING),
	[SB_PAUSED] = TO(SB_RESUMING) | TO(SB_DELETING),
	/* The restore failed: it stays paused. */
	[SB_RESUMING] = TO(SB_RUNNING) | TO(SB_PAUSED),
	[SB_FAILED] = TO(SB_DELETING) | TO(SB_RECOVERING),
	/* The cold boot or the recover command failed: failed again, its
	 * disk still kept. */
	[SB_RECOVERING] = TO(SB_RUNNING) | TO(SB_FAILED),
	[SB_DELETING] = 0,
};

/* The order of the writes makes these right (docs/architecture.md, "Fork, pause/resume, snapshot" and "Restart safety"):
 * a row is "running" only once its VM answered, "paused" only once its
 * image is durable, and the VMM that "resuming" starts maps the image
 * without ever writing it. */
static const struct sb_restart_rule rules[SB_STATE_COUNT] = {
	[SB_CREATING] = { RESTART_REMOVE, SB_CREATING, "a create that never answered" },
	[SB_RUNNING] = { RESTART_ADOPT_VM, SB_RUNNING, "its VMM runs on" },
	[SB_PAUSING] = { RESTART_ADOPT_VM, SB_RUNNING,
			 "a pause that did not get as far as paused never happened" },
	[SB_PAUSED] = { RESTART_ADOPT_IMAGE, SB_PAUSED, "it is its image" },
	[SB_RESUMING] = { RESTART_ADOPT_IMAGE, SB_PAUSED,
			  "a resume that did not finish left the image as it was" },
	[SB_FAILED] = { RESTART_KEEP, SB_FAILED, "it waits for its delete" },
	[SB_DELETING] = { RESTART_REMOVE, SB_DELETING, "a delete that did not finish" },
	/* Its disk is kept (the directory sweep spares failed sandboxes);
	 * the VMM the recover started is an orphan the sweep ends. */
	[SB_RECOVERING] = { RESTART_KEEP, SB_FAILED,
			    "a recover that did not finish: its disk is kept, recover again" },
};

const char *sb_state_name(enum sb_state s)
{
	return s >= 0 && s < SB_STATE_COUNT ? names[s] : "unknown";
}

int sb_state_parse(const char *name, enum sb_state *out, struct thaw_err **err)
{
	for (int i = 0; i < SB_STATE_COUNT; i++)
		if (strcmp(names[i], name) == 0) {
			*out = (enum sb_state)i;
			return 0;
		}
	return err_set(err, ERR_CORRUPT, "no sandbox state is called \"%.32s\"", name);
}

bool sb_state_may_become(enum sb_state from, enum sb_state to)
{
	if (from < 0 || from >= SB_STATE_COUNT || to < 0 || to >= SB_STATE_COUNT)
		return false;
	return (allowed[from] & TO(to)) != 0;
}

const struct sb_restart_rule *sb_restart_rule(enum sb_state found)
{
	return found >= 0 && found < SB_STATE_COUNT ? &rules[found] : &rules[SB_CREATING];
}
