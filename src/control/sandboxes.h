/* The fleet's sandboxes in PostgreSQL: which host each runs on, whose it
 * is, and the placement of new ones. The host keeps everything else (its
 * own database); the control plane keeps what routing and caps need. */
#ifndef THAW_CONTROL_SANDBOXES_H
#define THAW_CONTROL_SANDBOXES_H

#include <jansson.h>
#include <stdbool.h>

#include "control/pg.h"
#include "ids.h"

/* A create in flight: where it goes, and the token that holds its place. */
struct placement {
	char token[33];
	char host[64];
	char address[256];
	/* Under an Idempotency-Key: the sandbox a create with that key has
	 * made already ("" if none); then nothing was reserved. */
	char made[SANDBOX_ID_LEN + 1];
};

/* Chooses a host for a sandbox of template for owner, within the owner's
 * cap (max: 0 = none) counted exactly across instances (a per-owner lock
 * in the transaction that counts and reserves), among hosts that are up
 * and have room (their max_sandboxes less what runs and what is being
 * placed there): the best of a few picked at random, those that hold the
 * template first, then the emptiest. ERR_LIMIT over the cap,
 * ERR_UNAVAILABLE when no host has room. */
/* idem (NULL: none): the client's Idempotency-Key; a create in flight
 * under it (another instance's, or one whose instance died) is reused:
 * same token, same host, which then answers with what it made. */
/* hint (NULL: none): a fork's children go to near (its parent's host)
 * when it has room, or, with spread, to any other host first; hosts in
 * exclude are not chosen (a create they refused). */
struct place_hint {
	const char *near;
	bool spread;
	const char *const *exclude; /* hosts not to choose (they refused) */
	size_t nexclude;
};
int sandbox_place(struct pg *p, const char *owner, unsigned max, const char *tmpl,
		  const char *idem, const struct place_hint *hint, struct placement *out,
		  struct thaw_err **err);
/* The host made it: the placement becomes the sandbox's row (a row that
 * is there already, recorded by another instance, is kept). */
int sandbox_placed(struct pg *p, const struct placement *pl, const char *id, const char *owner,
		   const char *tmpl, const char *state, const char *idem, struct thaw_err **err);
/* The sandbox a create under (owner, idem) made, if the fleet has it. */
int sandbox_by_idem(struct pg *p, const char *owner, const char *idem, char id[SANDBOX_ID_LEN + 1],
		    struct thaw_err **err);
/* The host did not: the place is given back. */
void sandbox_unplace(struct pg *p, const struct placement *pl);

struct sandbox_route {
	char host[64], address[256], owner[KEY_NAME_MAX + 1], state[16];
	char reason[256];
	char host_state[16]; /* its host's: up, down, draining */
	char image[48];	     /* a paused sandbox's image; "" if none recorded */
	char tmpl[64];
};
/* Where sandbox id is. ERR_NOT_FOUND when the fleet has no such sandbox. */
int sandbox_find(struct pg *p, const char *id, struct sandbox_route *out, struct thaw_err **err);
/* After a state change the host reported (pause, resume); image: the
 * paused sandbox's (NULL: unchanged). */
int sandbox_set_state(struct pg *p, const char *id, const char *state, const char *image,
		      struct thaw_err **err);
/* Merges settings (a JSON object text: "env" and/or "network", as its
 * host reported them) into what the fleet keeps for sandbox id. */
int sandbox_set_settings(struct pg *p, const char *id, const char *settings, struct thaw_err **err);
/* What sandbox_set_settings kept: a new JSON object ({} when nothing). */
int sandbox_settings(struct pg *p, const char *id, json_t **out, struct thaw_err **err);

/* The sandbox now lives on the placement's host (another host adopted
 * it): its row follows, the placement goes. */
int sandbox_moved(struct pg *p, const struct placement *pl, const char *id, const char *state,
		  struct thaw_err **err);
/* A move that failed: the row names its old host again. */
int sandbox_move_back(struct pg *p, const char *id, const char *host, struct thaw_err **err);
/* Of the sandboxes host name reports, those the fleet knows on another
 * host that is up (moved while it was away) and those deleted while they
 * were lost there: a new JSON array of ids, for the host to delete. */
int sandboxes_elsewhere(struct pg *p, const char *name, json_t *reported, json_t **out,
			struct thaw_err **err);
int sandbox_forget(struct pg *p, const char *id, struct thaw_err **err);
/* A lost sandbox deleted by its user: its row goes, a tombstone for its
 * host stays (sandboxes_elsewhere names it when that host comes back). */
int sandbox_forget_lost(struct pg *p, const char *id, const char *host, struct thaw_err **err);
/* The host reports all it has (reported: every id): tombstones of ids it
 * no longer has go. */
int sandboxes_forgotten_gone(struct pg *p, const char *host, json_t *reported,
			     struct thaw_err **err);
/* GET /v1/sandboxes: a page of those that pass the filters (NULL: any),
 * in the order (created_at, id), after the place (after_us, after_id)
 * when after_id is set, at most limit, as {id, owner, host, template,
 * state, reason?, created_at}. *next_us and next_id: the last one's place
 * when more follow; next_id "" on the last page. */
struct sandbox_list_query {
	const char *owner, *state, *template_name;
	int64_t after_us; /* created_at in microseconds since the epoch */
	const char *after_id;
	int limit;
};
int sandbox_list(struct pg *p, const struct sandbox_list_query *q, json_t **out, int64_t *next_us,
		 char next_id[SANDBOX_ID_LEN + 1], struct thaw_err **err);
/* The sandboxes of hosts that are down become lost (their caps free);
 * placements older than the TTL are dropped. */
int sandboxes_sweep(struct pg *p, struct thaw_err **err);

#endif
