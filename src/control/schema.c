#include "control/schema.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"

/* Taken by every migrating instance: "thaw" in ASCII. */
#define MIGRATION_LOCK 0x74686177LL

static const char *const migrations[CONTROL_SCHEMA_VERSION] = {
	/* 1: hosts. info: what a host said of itself when it registered
	 * (CPU, QEMU, accelerator, capacity); used: its last heartbeat's
	 * load; templates: the names it holds. State changes: up on
	 * register and heartbeat (draining stays draining), down when the
	 * lease passed without a heartbeat. */
	"CREATE TABLE hosts ("
	" name text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),"
	" address text NOT NULL,"
	" state text NOT NULL CHECK (state IN ('up', 'down', 'draining')),"
	" info jsonb NOT NULL,"
	" used jsonb NOT NULL DEFAULT '{}',"
	" templates jsonb NOT NULL DEFAULT '[]',"
	" incarnation bigint NOT NULL DEFAULT 1,"
	" registered_at timestamptz NOT NULL DEFAULT now(),"
	" last_heartbeat timestamptz NOT NULL DEFAULT now(),"
	" state_since timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX hosts_heartbeat ON hosts (last_heartbeat) WHERE state <> 'down';",
	/* 2: sandboxes, each on one host (the host's own database has the
	 * rest of it); lost: its host went down. placements: creates in
	 * flight, holding their place against the owner's cap and the
	 * host's capacity until the host answers (an instance that died
	 * mid-create leaves one: swept after PLACEMENT_TTL). */
	"CREATE TABLE sandboxes ("
	" id text PRIMARY KEY CHECK (id ~ '^sb-[a-z0-9]{12}$'),"
	" owner text NOT NULL,"
	" host text NOT NULL REFERENCES hosts (name),"
	" template text NOT NULL,"
	" state text NOT NULL CHECK (state IN ('running', 'paused', 'lost')),"
	" reason text,"
	" created_at timestamptz NOT NULL DEFAULT now(),"
	" updated_at timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX sandboxes_owner ON sandboxes (owner);"
	"CREATE INDEX sandboxes_host ON sandboxes (host);"
	"CREATE TABLE placements ("
	" token text PRIMARY KEY,"
	" owner text NOT NULL,"
	" host text NOT NULL REFERENCES hosts (name),"
	" created_at timestamptz NOT NULL DEFAULT now());",
	/* 3: idempotent creates: the client's Idempotency-Key on the create
	 * in flight (a retry through any instance resends it to the same
	 * host, which answers with the sandbox it made) and on the sandbox
	 * it made (a later retry is answered from here). */
	"ALTER TABLE placements ADD COLUMN idem text;"
	"ALTER TABLE sandboxes ADD COLUMN idem text;"
	"CREATE UNIQUE INDEX placements_idem ON placements (owner, idem) WHERE idem IS NOT NULL;"
	"CREATE UNIQUE INDEX sandboxes_idem ON sandboxes (owner, idem) WHERE idem IS NOT NULL;",
	/* 4: a paused sandbox's image (its host's pause answer): what another
	 * host adopts from the object store when its own host is down. */
	"ALTER TABLE sandboxes ADD COLUMN image text;",
	/* 5: lost sandboxes a user deleted, per host: if that host comes
	 * back with one, its heartbeat's answer tells it to delete it (else
	 * it would run on, unseen and uncounted). Dropped once the host no
	 * longer reports it, or after a week. */
	"CREATE TABLE forgotten ("
	" id text PRIMARY KEY,"
	" host text NOT NULL,"
	" at timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX forgotten_host ON forgotten (host);",
	/* 6: what a paused sandbox's host said of its environment and network
	 * policy ({"env": {...}, "network": {...}}, either key may be
	 * missing): a host that adopts it when its own is down starts it
	 * with them. */
	"ALTER TABLE sandboxes ADD COLUMN settings jsonb;",
};

static int migrate(struct pg_conn *c, void *ctx, struct thaw_err **err)
{
	(void)ctx;
	PGresult *r = NULL;
	if (pg_conn_exec(c,
			 "CREATE TABLE IF NOT EXISTS schema_version (version int NOT NULL);"
			 "INSERT INTO schema_version SELECT 0 WHERE NOT EXISTS "
			 "(SELECT 1 FROM schema_version)",
			 0, NULL, NULL, err) < 0 ||
	    pg_conn_exec(c, "SELECT version FROM schema_version", 0, NULL, &r, err) < 0)
		return -1;
	int have = PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	if (have < 0 || have > CONTROL_SCHEMA_VERSION)
		return err_set(err, ERR_CONFLICT,
			       "the database's schema is version %d; this thaw-control knows up "
			       "to %d (a newer one migrated it)",
			       have, CONTROL_SCHEMA_VERSION);
	for (int v = have; v < CONTROL_SCHEMA_VERSION; v++) {
		char set[64];
		snprintf(set, sizeof(set), "UPDATE schema_version SET version = %d", v + 1);
		if (pg_conn_exec(c, migrations[v], 0, NULL, NULL, err) < 0 ||
		    pg_conn_exec(c, set, 0, NULL, NULL, err) < 0)
			return err_wrap(err, "migrating the schema to version %d", v + 1);
		log_notice("control.schema_migrated", "version=%d", v + 1);
	}
	return 0;
}

int schema_migrate(struct pg *p, struct thaw_err **err)
{
	return pg_transaction(p, MIGRATION_LOCK, migrate, NULL, err);
}
