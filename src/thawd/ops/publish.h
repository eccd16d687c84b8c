/* Published host ports (issue 17, docs/ports.md): a sandbox's port made
 * reachable on a host port of --publish-range, for clients that cannot
 * use the API tunnel. thawd owns one listening socket per published
 * port; each accepted connection is relayed like an API tunnel
 * (ops/tunnel.h), to the sandbox's current incarnation, so a published
 * port survives pause and resume (a connection while it is paused
 * resumes it when the sandbox auto-resumes, else it is closed).
 *
 * The host table's nftables guard (net/nft.h) lets through only the
 * range's published ports. Published ports are rows of thawd's database,
 * re-opened when thawd restarts, and go with their sandbox. */
#ifndef THAW_PUBLISH_H
#define THAW_PUBLISH_H

#include <jansson.h>
#include <stdbool.h>

#include "core/host.h"
#include "err.h"

struct published_port {
	int port;      /* in the guest */
	int host_port; /* on h->cfg->publish_addr */
};

/* The (empty) table of listeners in h->published. */
void publish_table_open(struct host *h);
/* Closes every listener (the rows and the guard stay, for the next
 * thawd) and frees the table. */
void publish_table_close(struct host *h);
/* Re-opens the listeners of the database's rows whose sandbox is listed;
 * rows of sandboxes that are gone, or outside the range, are dropped. */
void publish_restore(struct host *h);

/* Publishes port of sandbox id on the next free port of the range.
 * *existed: it was published already (out is that one). ERR_CONFLICT: no
 * range configured, the range is full, or the sandbox is being deleted;
 * ERR_NOT_FOUND: no such sandbox. */
int sandbox_publish(struct host *h, const char *id, int port, struct published_port *out,
		    bool *existed, struct thaw_err **err);
/* ERR_NOT_FOUND when port is not published. */
int sandbox_unpublish(struct host *h, const char *id, int port, struct thaw_err **err);
/* All of id's, on delete; nothing published is fine. */
void sandbox_unpublish_all(struct host *h, const char *id);

/* The ports a create from template_name publishes when it does not say
 * (its recipe's key publish="..."), into ports[CREATE_MAX_PUBLISH]: 0
 * on a host without a range, or for a template without a recipe (a
 * snapshot) or without the key. Read from the recipe at create. */
int publish_recipe_default(struct host *h, const char *template_name, int *ports);

/* [{port, host_address, host_port}], sorted by port (a new reference). */
json_t *sandbox_published_json(struct host *h, const char *id);

#endif
