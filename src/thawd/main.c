/* thawd: the control-plane API and the host agent in one process. */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "httpapi/keys.h"
#include "buf.h"
#include "cleanup.h"
#include "config.h"
#include "core/quota.h"
#include "daemon.h"
#include "e2b/e2b.h"
#include "failpoint.h"
#include "fdlimit.h"
#include "fleet/join.h"
#include "fsutil.h"
#include "ids.h"
#include "log.h"
#include "net/nft.h"
#include "ops/janitor.h"
#include "ops/reconcile.h"
#include "remote/remote.h"
#include "secret.h"
#include "template/catalog.h"

/* The key clients present. Created once, 0600, never logged. */
static int load_api_key(const char *data_dir, char **out, struct thaw_err **err)
{
	_cleanup_free_ char *path = xasprintf("%s/api-key", data_dir);
	if (!fs_exists(path)) {
		unsigned char raw[24];
		random_bytes(raw, sizeof(raw));
		struct buf key = { 0 };
		buf_append_str(&key, "thaw_");
		for (size_t i = 0; i < sizeof(raw); i++)
			buf_printf(&key, "%02x", raw[i]);
		buf_append(&key, "\n", 1);
		int rc = fs_write_atomic(path, key.data, key.len, 0600, err);
		buf_free(&key);
		if (rc < 0)
			return -1;
		log_notice("thawd.api_key_created", "path=%s", path);
	}
	char *text = NULL;
	if (fs_read_file(path, 4096, &text, NULL, err) < 0)
		return -1;
	text[strcspn(text, "\r\n")] = '\0';
	if (strlen(text) < 16) {
		free(text);
		return err_set(err, ERR_INVALID, "%s holds no usable key (16+ characters)", path);
	}
	*out = text;
	return 0;
}

static int run_teardown(struct host *h)
{
	struct reconcile_report rep;
	reconcile_teardown(h, &rep);
	_cleanup_err_ struct thaw_err *err = NULL;
	if (nft_host_remove(h->nft_table, &err) < 0)
		log_warn("thawd.teardown", "error=\"%s\"", err_msg(err));
	err_free(err);
	err = NULL;
	/* Its chunk cache is in the store. */
	remote_teardown(h->cfg);
	if (disk_store_unmount(h->store, &err) < 0) {
		log_error("thawd.teardown", "error=\"%s\"", err_msg(err));
		return 1;
	}
	log_notice("thawd.teardown", "sandboxes=%d orphans=%d", rep.cleaned, rep.orphans);
	return 0;
}

/* Without a keys file, DATA/api-key is the one admin key, "default". A
 * host in a fleet also takes the control plane's requests: its host key
 * is its admin key "control" (tenants' keys live in the control plane,
 * not here: config.c refuses --keys-file with --join). */
static int load_keys(const struct thawd_config *cfg, struct api_keys *keys, struct thaw_err **err)
{
	if (!keys->n) { /* else the keys file, read before anything started */
		_cleanup_free_ char *key = NULL;
		if (load_api_key(cfg->data_dir, &key, err) < 0)
			return -1;
		keys_single(key, keys);
		OPENSSL_cleanse(key, strlen(key));
	}
	if (!cfg->join_url)
		return 0;
	char key[HOST_KEY_LEN + 1];
	if (fleet_credential(cfg, key, err) < 0)
		return -1;
	int rc = keys_add(keys, "control", key, KEY_ADMIN, err);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* Says so at start when the descriptor limit could not be raised far
 * enough for --max-sandboxes: creates would fail with EMFILE first. */
static void check_fd_budget(const struct host *h)
{
	const struct thawd_config *cfg = h->cfg;
	/* Warm VMMs are --vmm-pool per template: allow for a few templates. */
	uint64_t vmms = (uint64_t)quota_host_max(h->quota) + (uint64_t)cfg->vmm_pool * 4;
	uint64_t need = FDLIMIT_BASE + FDLIMIT_PER_SANDBOX * vmms + (uint64_t)cfg->slot_pool;
	if (h->nofile.soft && h->nofile.soft < need)
		log_warn("thawd.fd_limit",
			 "soft=%llu hard=%llu needed=%llu hint=\"raise the hard RLIMIT_NOFILE "
			 "(ulimit -Hn, LimitNOFILE=) or lower --max-sandboxes\"",
			 (unsigned long long)h->nofile.soft, (unsigned long long)h->nofile.hard,
			 (unsigned long long)need);
	else
		log_info("thawd.fd_limit", "soft=%llu hard=%llu was=%llu",
			 (unsigned long long)h->nofile.soft, (unsigned long long)h->nofile.hard,
			 (unsigned long long)h->nofile.was_soft);
}

/* The E2B front (docs/e2b.md) when --e2b-listen asks for it, on its own
 * copy of the keys: each server owns the list it was given. */
static int e2b_front_start(struct host *h, const struct api_keys *keys, struct api_server **out,
			   struct thaw_err **err)
{
	if (!h->cfg->e2b_listen_addr)
		return 0;
	struct api_keys copy;
	keys_copy(keys, &copy);
	return e2b_api_start(h, &copy, out, err);
}

/* The keyless listener of GET /metrics when --metrics-listen asks. */
static int metrics_front_start(const struct thawd_config *cfg, struct api_server **out,
			       struct thaw_err **err)
{
	if (!cfg->metrics_listen_addr)
		return 0;
	return api_metrics_listen(cfg->metrics_listen_addr, cfg->metrics_listen_port, out, err);
}

static int serve(struct host *h, const struct thawd_config *cfg, struct api_keys *keys)
{
	_cleanup_err_ struct thaw_err *err = NULL;
	struct janitor *jan = NULL;
	struct api_server *api = NULL, *e2b = NULL, *metrics = NULL;
	struct fleet_join *fleet = NULL;
	api_metrics_init(h);
	if (load_keys(cfg, keys, &err) < 0 || janitor_start(h, &jan, &err) < 0 ||
	    e2b_front_start(h, keys, &e2b, &err) < 0 ||
	    metrics_front_start(cfg, &metrics, &err) < 0 ||
	    thawd_api_start(h, keys, &api, &err) < 0 || fleet_join_start(h, &fleet, &err) < 0) {
		log_error("thawd.start", "error=\"%s\"", err_msg(err));
		api_server_stop(api);
		api_server_stop(metrics);
		api_server_stop(e2b);
		janitor_stop(jan);
		return 1;
	}
	log_notice("thawd.ready", "listen=%s:%d data_dir=%s accel=%s store=%s", cfg->listen_addr,
		   cfg->listen_port, cfg->data_dir, accel_name(h->vmm.accel),
		   store_mode_name(h->store->mode));
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	int sig = 0;
	sigwait(&stop, &sig);
	log_notice("thawd.stopping", "signal=%d", sig);
	fleet_join_stop(fleet);
	api_server_stop(e2b);
	api_server_stop(metrics);
	api_server_stop(api);
	janitor_stop(jan);
	catalog_wait_bakes(h->catalog);
	return 0;
}

int main(int argc, char **argv)
{
	struct thawd_config cfg;
	bool teardown = false;
	int rc = config_load(argc, argv, &cfg, &teardown);
	if (rc != 0)
		return rc < 0 ? 2 : 0;
	log_set_level(cfg.log_level);
	if (teardown)
		cfg.slot_pool = cfg.vmm_pool = 0; /* nothing to keep warm for */
	if (cfg.failpoints && !teardown) {
		failpoints_enable();
		log_warn("thawd.failpoints",
			 "note=\"admin keys may make thawd crash: tests only\"");
	}
	if (geteuid() != 0)
		fprintf(stderr, "thawd: warning: not running as root; namespaces, taps and the "
				"store mount will fail\n");
	/* Only the main thread takes the stop signals (sigwait). */
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: the port proxy uses it */
	struct host *h = NULL;
	_cleanup_err_ struct thaw_err *err = NULL;
	/* A bad keys file stops thawd before it touches anything. */
	struct api_keys keys = { 0 };
	if (!teardown && cfg.keys_file && keys_load_file(cfg.keys_file, &keys, &err) < 0) {
		log_error("thawd.start", "error=\"%s\"", err_msg(err));
		fprintf(stderr, "thawd: %s\n", err_msg(err));
		config_free(&cfg);
		curl_global_cleanup();
		return 2;
	}
	if (keys.n)
		log_notice("thawd.keys", "file=%s keys=%zu", cfg.keys_file, keys.n);
	if (host_open(&cfg, &h, &err) < 0) {
		keys_free(&keys);
		log_error("thawd.start", "error=\"%s\"", err_msg(err));
		config_free(&cfg);
		return 1;
	}
	check_fd_budget(h);
	rc = teardown ? run_teardown(h) : serve(h, &cfg, &keys);
	keys_free(&keys);
	host_close(h);
	config_free(&cfg);
	curl_global_cleanup();
	return rc;
}
