/* What callers ask of the operations: plain data, filled by the API's
 * validators (api/validate.c) and by thawd's own callers. */
#ifndef THAW_REQUESTS_H
#define THAW_REQUESTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "net/netpolicy.h"

/* Who asks for new sandboxes: the key that will own them and its cap
 * (core/quota.h). Set from the request's key, never from its body. */
struct sb_owner {
	const char *name;
	unsigned max_sandboxes; /* 0: only the host's cap */
	bool admin;		/* may create from templates private to other keys */
};

/* A run_code cell (ops/run_code.c). */
struct run_code_req {
	const char *code;
	const char *context; /* NULL: "default" */
	int timeout_s;
	json_t *env; /* borrowed object of strings, or NULL */
	bool auto_resume;
	void (*on_event)(json_t *event, void *ud);
	void *ud;
	const bool *cancel; /* stops waiting when it turns true */
};

/* A database password a request may set (ops/clone_hook.c): what a
 * connection URI carries with little escaping, DB_PASSWORD_MIN-MAX of
 * [A-Za-z0-9._~+/=@%^:,-]. Here, not in a .c file: the API's validation
 * and the operation both check it, and the fuzzers link validate.c alone. */
#define DB_PASSWORD_MIN 8
#define DB_PASSWORD_MAX 128
static inline bool db_password_valid(const char *pw)
{
	size_t n = strlen(pw);
	if (n < DB_PASSWORD_MIN || n > DB_PASSWORD_MAX)
		return false;
	for (; *pw; pw++)
		if (!((*pw >= 'a' && *pw <= 'z') || (*pw >= 'A' && *pw <= 'Z') ||
		      (*pw >= '0' && *pw <= '9') || strchr("._~+/=@%^:,-", *pw)))
			return false;
	return true;
}
#define CREATE_MAX_PUBLISH 16

struct create_req {
	char template_name[64];
	/* Issue 17 (tcp): guest ports to publish on the host's range once it
	 * runs (ops/publish.h). */
	int publish[CREATE_MAX_PUBLISH];
	int n_publish;
	bool has_publish; /* "publish" given ([] opts out of the recipe's) */
	struct sb_owner owner;
	int64_t timeout_s; /* 0 = never */
	char *metadata;	   /* JSON object text, owned (create_req_free) */
	bool timeout_pauses;
	bool auto_resume;
	/* CPU time per second in 1/1000 of a core, at most the template's
	 * vCPUs' worth; 0: all of them. */
	uint32_t cpu_millis;
	/* Boot the template's kernel and disk instead of restoring its
	 * snapshot: the baseline that restore is measured against, and a
	 * second path that must give the same machine. */
	bool cold_boot;
	/* false: build the network slot and start the VMM now even when the
	 * warm pools have them ready (to measure what the pools save). */
	bool use_pools;
	/* Its egress policy (net/netpolicy.h), owned; NULL: the default. */
	struct netpolicy *network;
	/* The environment of its commands: JSON object text, owned; NULL:
	 * none. */
	char *env;
	/* The database password to set (request "database.password", owned,
	 * validated); NULL: a fresh random one (ops/clone_hook.c). */
	char *db_password;
	/* The request's Idempotency-Key (validated; borrowed), kept in the
	 * sandbox's row; NULL: none. */
	const char *idem_key;
};

static inline void create_req_free(struct create_req *r)
{
	free(r->metadata);
	free(r->env);
	netpolicy_free(r->network);
	if (r->db_password)
		explicit_bzero(r->db_password, strlen(r->db_password));
	free(r->db_password);
	r->metadata = r->env = r->db_password = NULL;
	r->network = NULL;
}

#endif
