/* thawd's durable state in SQLite (WAL mode): which templates exist and
 * which sandboxes should exist. Every change is one transaction. Reality
 * (processes, namespaces, files) is reconciled against this at start. */
#ifndef THAW_DB_H
#define THAW_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "ids.h"

struct db;

int db_open(const char *path, struct db **out, struct thaw_err **err);
void db_close(struct db *db);

struct sandbox_row {
	char id[32];
	char template_name[64];
	char build_id[48];
	/* creating | running | failed | deleting | pausing | paused | resuming */
	char state[16];
	int64_t created_at;
	int64_t timeout_at; /* unix seconds, 0 = never */
	char *metadata;	    /* JSON object text, owned */
	int64_t vmm_pid;
	uint64_t vmm_start_ticks;
	char *timings;	    /* JSON object text, owned, may be NULL */
	char *reason;	    /* why it failed, owned, may be NULL */
	int64_t slot;	    /* network slot index, -1 before it has one */
	char parent[32];    /* the sandbox it was forked from, "" if none */
	char image[48];	    /* the image its memory comes from, "" = its template build */
	char on_timeout[8]; /* delete | pause */
	int64_t timeout_s;  /* the timeout it was given (resume restarts it) */
	bool auto_resume;   /* a request for it while paused resumes it */
	int64_t paused_at;  /* unix seconds, 0 unless paused */
	uint32_t cpu_millis; /* CPU limit asked at create; 0: the template's vCPUs */
	char owner[KEY_NAME_MAX + 1]; /* the API key name that owns it */
	char *network;		      /* egress policy, JSON text, owned, NULL: the default */
	char *env;		      /* JSON object text, owned, NULL: none */
	char idem[IDEM_KEY_MAX + 1];  /* its create's Idempotency-Key, "" if none */
};

void sandbox_row_free(struct sandbox_row *r);

int db_sandbox_insert(struct db *db, const struct sandbox_row *r, struct thaw_err **err);
/* Marks a sandbox running with its VMM identity and create timings. */
int db_sandbox_set_running(struct db *db, const char *id, int64_t pid, uint64_t start_ticks,
			   int64_t slot, const char *timings, struct thaw_err **err);
int db_sandbox_set_state(struct db *db, const char *id, const char *state, const char *reason,
			 struct thaw_err **err);
int db_sandbox_set_timeout(struct db *db, const char *id, int64_t timeout_at, int64_t timeout_s,
			   struct thaw_err **err);
/* Paused: no VMM, no slot, no deadline; its memory is in image. */
int db_sandbox_set_paused(struct db *db, const char *id, const char *image, int64_t paused_at,
			  struct thaw_err **err);
int db_sandbox_set_resumed(struct db *db, const char *id, int64_t pid, uint64_t start_ticks,
			   int64_t slot, int64_t timeout_at, struct thaw_err **err);
/* Its egress policy (JSON text; NULL: the default). */
int db_sandbox_set_network(struct db *db, const char *id, const char *network,
			   struct thaw_err **err);
/* ERR_NOT_FOUND for an unknown id; the row's strings are the caller's
 * (sandbox_row_free). */
int db_sandbox_get(struct db *db, const char *id, struct sandbox_row *out, struct thaw_err **err);
int db_sandbox_delete(struct db *db, const char *id, struct thaw_err **err);

typedef void (*db_sandbox_fn)(const struct sandbox_row *r, void *ud);
int db_sandbox_each(struct db *db, db_sandbox_fn fn, void *ud, struct thaw_err **err);
/* How many sandboxes use this template build, this template, this image. */
int db_build_in_use(struct db *db, const char *template_name, const char *build_id, int *count,
		    struct thaw_err **err);
int db_template_in_use(struct db *db, const char *template_name, int *count, struct thaw_err **err);
int db_image_in_use(struct db *db, const char *image, int *count, struct thaw_err **err);

/* Every build directory with the checksum of its meta.json: template
 * builds (kind bake or snapshot, in STORE/templates/<template>/<id>)
 * and sandbox images (fork or pause, in STORE/images/<id>). */
struct build_row {
	char build_id[48];
	char template_name[64];
	char kind[16];
	char meta_sha256[65];
	int64_t created_at;
};

int db_build_put(struct db *db, const struct build_row *b, struct thaw_err **err);
int db_build_get(struct db *db, const char *build_id, struct build_row *out, struct thaw_err **err);
int db_build_delete(struct db *db, const char *build_id, struct thaw_err **err);
int db_build_each(struct db *db, const char *kind, void (*fn)(const struct build_row *b, void *ud),
		  void *ud, struct thaw_err **err);

/* Allocated network slot indices (core/slotpool.c). */
int db_slot_insert(struct db *db, uint32_t index, struct thaw_err **err);
int db_slot_delete(struct db *db, uint32_t index, struct thaw_err **err);
int db_slot_each(struct db *db, void (*fn)(uint32_t index, void *ud), void *ud,
		 struct thaw_err **err);

struct template_row {
	char name[64];
	char build_id[48];
	char meta_sha256[65];
	int64_t created_at;
	char owner[KEY_NAME_MAX + 1]; /* the user key it is private to; "" = shared */
};

int db_template_put(struct db *db, const struct template_row *t, struct thaw_err **err);
/* ERR_NOT_FOUND when there is no such template. */
int db_template_get(struct db *db, const char *name, struct template_row *out,
		    struct thaw_err **err);
typedef void (*db_template_fn)(const struct template_row *t, void *ud);
int db_template_each(struct db *db, db_template_fn fn, void *ud, struct thaw_err **err);
/* The template's row only (its builds go with catalog_gc). */
int db_template_delete(struct db *db, const char *name, struct thaw_err **err);

/* Issue 17 (tcp): ports published on the host's range (ops/publish.c).
 * db_published_delete with port 0 deletes all of the sandbox's. Rows
 * with values out of range are skipped by _each. */
int db_published_put(struct db *db, const char *id, int port, int host_port, struct thaw_err **err);
int db_published_delete(struct db *db, const char *id, int port, struct thaw_err **err);
typedef void (*db_published_fn)(const char *id, int port, int host_port, void *ud);
int db_published_each(struct db *db, db_published_fn fn, void *ud, struct thaw_err **err);

#endif
