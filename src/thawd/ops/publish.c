#include "ops/publish.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "core/registry.h"
#include "core/sandbox.h"
#include "db/db.h"
#include "fsutil.h"
#include "log.h"
#include "net/nft.h"
#include "ops/requests.h"
#include "ops/tunnel.h"
#include "template/recipe.h"

/* One published port: its listening socket and the thread accepting on
 * it. */
struct listener {
	struct host *h;
	char id[32];
	int port, host_port;
	int fd;
	pthread_t thread;
	bool stop; /* atomic */
};

struct publish_table {
	pthread_mutex_t lock; /* guards the list; held while one changes */
	struct listener **v;
	size_t n;
};

static void close_client(void *ud, int client_fd)
{
	(void)ud;
	close(client_fd);
}

/* A connection is set up on the accepting thread (connect in the slot,
 * or a resume first): thawd's shutdown joins that thread, so no set-up
 * outlives the table. */
static void serve(struct listener *l, int c)
{
	_cleanup_err_ struct thaw_err *err = NULL;
	struct tunnel *t = NULL;
	if (tunnel_open(l->h, l->id, l->port, false, &t, &err) < 0 ||
	    tunnel_start(t, c, NULL, 0, close_client, NULL, &err) < 0) {
		log_info("sandbox.published_refused", "id=%s port=%d host_port=%d error=\"%s\"",
			 l->id, l->port, l->host_port, err_msg(err));
		close(c);
	}
}

static void *accept_loop(void *arg)
{
	struct listener *l = arg;
	while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
		int c = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0) {
			serve(l, c);
		} else if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
			usleep(100 * 1000); /* out of descriptors: wait, never spin */
		} else if (errno != EINTR && errno != ECONNABORTED) {
			break; /* shut down: the listener is closing */
		}
	}
	return NULL;
}

static int listen_on(const char *addr, int port, int *out, struct thaw_err **err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, addr, &sa.sin_addr);
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0)
		return err_sys(err, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0)
		return err_sys(err, "listening on %s:%d", addr, port);
	*out = fd_keep_high(steal_fd(&fd));
	return 0;
}

/* Opens the listener and starts its thread (table lock held). */
static int listener_start(struct host *h, const char *id, int port, int host_port,
			  struct thaw_err **err)
{
	struct listener *l = xcalloc(1, sizeof(*l));
	l->h = h;
	snprintf(l->id, sizeof(l->id), "%s", id);
	l->port = port;
	l->host_port = host_port;
	if (listen_on(h->cfg->publish_addr, host_port, &l->fd, err) < 0) {
		free(l);
		return -1;
	}
	int rc = pthread_create(&l->thread, NULL, accept_loop, l);
	if (rc != 0) {
		close(l->fd);
		free(l);
		errno = rc;
		return err_sys(err, "starting a listener");
	}
	struct publish_table *t = h->published;
	t->v = xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
	t->v[t->n++] = l;
	return 0;
}

static void listener_stop(struct listener *l)
{
	__atomic_store_n(&l->stop, true, __ATOMIC_RELEASE);
	shutdown(l->fd, SHUT_RDWR); /* wakes accept() */
	pthread_join(l->thread, NULL);
	close(l->fd);
	free(l);
}

/* Index of (id, port) in the table, or -1 (lock held). */
static ssize_t find(struct publish_table *t, const char *id, int port)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->port == port && strcmp(t->v[i]->id, id) == 0)
			return (ssize_t)i;
	return -1;
}

static bool host_port_used(struct publish_table *t, int host_port)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->host_port == host_port)
			return true;
	return false;
}

void publish_table_open(struct host *h)
{
	h->published = xcalloc(1, sizeof(*h->published));
	pthread_mutex_init(&h->published->lock, NULL);
}

void publish_table_close(struct host *h)
{
	struct publish_table *t = h->published;
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		listener_stop(t->v[i]);
	free(t->v);
	pthread_mutex_destroy(&t->lock);
	free(t);
	h->published = NULL;
}

/* Starts the guard's opening and the listener for a new row (lock
 * held); undoes what it did on failure. */
static int open_port(struct host *h, const char *id, int port, int host_port, struct thaw_err **err)
{
	if (nft_publish_set(h->nft_table, host_port, true, err) < 0)
		return -1;
	if (listener_start(h, id, port, host_port, err) < 0) {
		nft_publish_set(h->nft_table, host_port, false, NULL);
		return -1;
	}
	return 0;
}

static int publish_locked(struct host *h, const char *id, int port, struct published_port *out,
			  bool *existed, struct thaw_err **err)
{
	struct publish_table *t = h->published;
	ssize_t i = find(t, id, port);
	if (i >= 0) {
		*out = (struct published_port){ port, t->v[i]->host_port };
		*existed = true;
		return 0;
	}
	const struct thawd_config *c = h->cfg;
	for (int hp = c->publish_lo; hp <= c->publish_hi; hp++) {
		if (host_port_used(t, hp))
			continue;
		_cleanup_err_ struct thaw_err *e = NULL;
		if (open_port(h, id, port, hp, &e) < 0)
			continue; /* taken by another program: try the next */
		if (db_published_put(h->db, id, port, hp, err) < 0) {
			listener_stop(t->v[--t->n]);
			nft_publish_set(h->nft_table, hp, false, NULL);
			return err_wrap(err, "publishing port %d of %s", port, id);
		}
		*out = (struct published_port){ port, hp };
		*existed = false;
		log_info("sandbox.published", "id=%s port=%d host=%s:%d", id, port, c->publish_addr,
			 hp);
		return 0;
	}
	return err_set(err, ERR_CONFLICT, "every port of the publish range %s:%d-%d is taken",
		       c->publish_addr, c->publish_lo, c->publish_hi);
}

int sandbox_publish(struct host *h, const char *id, int port, struct published_port *out,
		    bool *existed, struct thaw_err **err)
{
	if (!h->cfg->publish_addr)
		return err_set(err, ERR_CONFLICT,
			       "this host publishes no ports: thawd runs without --publish-range");
	if (port < 1 || port > 65535)
		return err_set(err, ERR_INVALID, "port must be from 1 to 65535, not %d", port);
	struct sandbox *sb = registry_get(h, id);
	if (!sb)
		return err_set(err, ERR_NOT_FOUND, "sandbox %s does not exist", id);
	enum sb_state state = sandbox_state(sb);
	sandbox_unref(h, sb);
	if (state == SB_DELETING || state == SB_FAILED)
		return err_set(err, ERR_CONFLICT, "sandbox %s is %s", id, sb_state_name(state));
	pthread_mutex_lock(&h->published->lock);
	int rc = publish_locked(h, id, port, out, existed, err);
	pthread_mutex_unlock(&h->published->lock);
	return rc;
}

/* Closes entry i and forgets it (lock held). */
static void close_entry(struct host *h, size_t i)
{
	struct publish_table *t = h->published;
	struct listener *l = t->v[i];
	t->v[i] = t->v[--t->n];
	_cleanup_err_ struct thaw_err *err = NULL;
	if (nft_publish_set(h->nft_table, l->host_port, false, &err) < 0)
		log_warn("sandbox.unpublish", "id=%s host_port=%d error=\"%s\"", l->id,
			 l->host_port, err_msg(err));
	log_info("sandbox.unpublished", "id=%s port=%d host_port=%d", l->id, l->port, l->host_port);
	listener_stop(l);
}

int sandbox_unpublish(struct host *h, const char *id, int port, struct thaw_err **err)
{
	pthread_mutex_lock(&h->published->lock);
	ssize_t i = find(h->published, id, port);
	int rc = 0;
	if (i < 0)
		rc = err_set(err, ERR_NOT_FOUND, "port %d of sandbox %s is not published", port,
			     id);
	else if (db_published_delete(h->db, id, port, err) < 0)
		rc = -1;
	else
		close_entry(h, (size_t)i);
	pthread_mutex_unlock(&h->published->lock);
	return rc;
}

void sandbox_unpublish_all(struct host *h, const char *id)
{
	if (!h->published)
		return;
	_cleanup_err_ struct thaw_err *err = NULL;
	pthread_mutex_lock(&h->published->lock);
	for (size_t i = h->published->n; i-- > 0;)
		if (strcmp(h->published->v[i]->id, id) == 0)
			close_entry(h, i);
	if (db_published_delete(h->db, id, 0, &err) < 0)
		log_warn("sandbox.unpublish", "id=%s error=\"%s\"", id, err_msg(err));
	pthread_mutex_unlock(&h->published->lock);
}

static int by_port(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "port"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "port"));
	return (x > y) - (x < y);
}

json_t *sandbox_published_json(struct host *h, const char *id)
{
	json_t *items[64];
	size_t n = 0;
	json_t *arr = json_array();
	if (!h->published)
		return arr;
	pthread_mutex_lock(&h->published->lock);
	for (size_t i = 0; i < h->published->n; i++) {
		struct listener *l = h->published->v[i];
		if (strcmp(l->id, id) != 0)
			continue;
		json_t *o = json_pack("{s:i,s:s,s:i}", "port", l->port, "host_address",
				      h->cfg->publish_addr, "host_port", l->host_port);
		if (n < sizeof(items) / sizeof(items[0]))
			items[n++] = o;
		else
			json_array_append_new(arr, o); /* beyond 64: unsorted */
	}
	pthread_mutex_unlock(&h->published->lock);
	qsort(items, n, sizeof(items[0]), by_port);
	for (size_t i = 0; i < n; i++)
		json_array_insert_new(arr, i, items[i]);
	return arr;
}

int publish_recipe_default(struct host *h, const char *template_name, int *ports)
{
	struct recipe rc = { 0 };
	if (!h->cfg->publish_addr || !h->cfg->recipes_dir ||
	    recipe_load(h->cfg->recipes_dir, template_name, &rc, NULL) < 0)
		return 0;
	_Static_assert(RECIPE_MAX_PUBLISH <= CREATE_MAX_PUBLISH, "a recipe's ports fit a create's");
	int n = rc.n_publish;
	memcpy(ports, rc.publish, (size_t)n * sizeof(*ports));
	recipe_free(&rc);
	return n;
}

/* ---- restart ---------------------------------------------------------- */

struct restore_row {
	char id[32];
	int port, host_port;
};

static void collect_row(const char *id, int port, int host_port, void *ud)
{
	struct buf *b = ud;
	struct restore_row r = { .port = port, .host_port = host_port };
	snprintf(r.id, sizeof(r.id), "%s", id);
	buf_append(b, &r, sizeof(r));
}

static void restore_one(struct host *h, const struct restore_row *r)
{
	const struct thawd_config *c = h->cfg;
	struct sandbox *sb = registry_get(h, r->id);
	bool keep = sb && c->publish_addr && r->host_port >= c->publish_lo &&
		    r->host_port <= c->publish_hi && !host_port_used(h->published, r->host_port);
	sandbox_unref(h, sb);
	_cleanup_err_ struct thaw_err *err = NULL;
	if (keep && open_port(h, r->id, r->port, r->host_port, &err) == 0)
		return;
	log_notice("sandbox.published_dropped", "id=%s port=%d host_port=%d why=\"%s\"", r->id,
		   r->port, r->host_port,
		   err ? err_msg(err) : "its sandbox is gone or the port is outside the range");
	db_published_delete(h->db, r->id, r->port, NULL);
}

void publish_restore(struct host *h)
{
	_cleanup_buf_ struct buf rows = { 0 };
	_cleanup_err_ struct thaw_err *err = NULL;
	if (db_published_each(h->db, collect_row, &rows, &err) < 0) {
		log_warn("sandbox.published_restore", "error=\"%s\"", err_msg(err));
		return;
	}
	const struct restore_row *v = (const struct restore_row *)rows.data;
	size_t n = rows.len / sizeof(*v);
	pthread_mutex_lock(&h->published->lock);
	for (size_t i = 0; i < n; i++)
		restore_one(h, &v[i]);
	pthread_mutex_unlock(&h->published->lock);
}
