/* thaw-control: the fleet's API in front of many thawd hosts (docs/fleet.md).
 * Starts: options, the fleet secret and the keys (a bad file stops it
 * before anything), PostgreSQL (waited for, then the schema migrated),
 * the API, the host sweeper; stops on SIGTERM or SIGINT. */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "control/api/api.h"
#include "control/config.h"
#include "control/hosts.h"
#include "control/sandboxes.h"
#include "control/schema.h"
#include "httpapi/keys.h"
#include "hostkey.h"
#include "log.h"
#include "secret.h"
#include "timeutil.h"

#define DB_WAIT_S 30

/* PostgreSQL may come up after this process (one unit file starting
 * both): waited for, then the schema is brought up to date. */
static int open_database(const struct control_config *cfg, struct pg **out, struct thaw_err **err)
{
	for (int i = 0;; i++) {
		err_free(*err);
		*err = NULL;
		if (pg_open(cfg->database_url, cfg->db_connections, out, err) == 0)
			break;
		if ((*err)->code != ERR_UNAVAILABLE || i >= DB_WAIT_S)
			return -1;
		if (i == 0)
			log_warn("control.db_wait", "error=\"%s\"", err_msg(*err));
		sleep(1);
	}
	if (schema_migrate(*out, err) < 0) {
		pg_close(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

struct sweeper {
	struct control *ctl;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
};

/* Every second, hosts past their lease are marked down. Every instance
 * runs it: the update is the same whoever makes it. */
static void *sweep_main(void *arg)
{
	struct sweeper *s = arg;
	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		struct timespec until = time_after_ms(CLOCK_REALTIME, 1000);
		pthread_cond_timedwait(&s->cond, &s->lock, &until);
		if (s->stop)
			break;
		pthread_mutex_unlock(&s->lock);
		int n = 0;
		_cleanup_err_ struct thaw_err *err = NULL;
		if (hosts_sweep(s->ctl->pg, &n, &err) < 0 || sandboxes_sweep(s->ctl->pg, &err) < 0)
			log_warn("control.sweep_failed", "error=\"%s\"", err_msg(err));
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static int serve(struct control *ctl, struct api_keys *keys)
{
	const struct control_config *cfg = ctl->cfg;
	struct api_service svc = { .routes = control_routes,
				   .nroutes = control_route_count,
				   .app = ctl,
				   .listen_addr = cfg->listen_addr,
				   .listen_port = cfg->listen_port,
				   .upload_dir = "/tmp",
				   .rate_limit = cfg->rate_limit };
	struct api_server *api = NULL;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (api_server_start(&svc, keys, &api, &err) < 0) {
		log_error("control.start", "error=\"%s\"", err_msg(err));
		return 1;
	}
	struct sweeper sw = { .ctl = ctl };
	pthread_mutex_init(&sw.lock, NULL);
	pthread_cond_init(&sw.cond, NULL);
	bool swept = pthread_create(&sw.thread, NULL, sweep_main, &sw) == 0;
	log_notice("control.ready", "listen=%s:%d schema=%d", cfg->listen_addr, cfg->listen_port,
		   CONTROL_SCHEMA_VERSION);
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	int sig = 0;
	sigwait(&stop, &sig);
	log_notice("control.stopping", "signal=%d", sig);
	api_server_stop(api);
	pthread_mutex_lock(&sw.lock);
	sw.stop = true;
	pthread_cond_signal(&sw.cond);
	pthread_mutex_unlock(&sw.lock);
	if (swept)
		pthread_join(sw.thread, NULL);
	pthread_cond_destroy(&sw.cond);
	pthread_mutex_destroy(&sw.lock);
	return 0;
}

/* thaw-control --print-host-key NAME */
static int print_host_key(struct control_config *cfg)
{
	_cleanup_err_ struct thaw_err *err = NULL;
	char *secret = NULL;
	if (secret_read(cfg->fleet_secret_file, "fleet secret", &secret, &err) < 0) {
		fprintf(stderr, "thaw-control: %s\n", err_msg(err));
		control_config_free(cfg);
		return 2;
	}
	char key[HOST_KEY_LEN + 1];
	host_key_derive(secret, cfg->print_host_key, key);
	printf("%s\n", key);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(secret, strlen(secret));
	free(secret);
	control_config_free(cfg);
	return 0;
}

int main(int argc, char **argv)
{
	struct control_config cfg;
	int rc = control_config_load(argc, argv, &cfg);
	if (rc != 0)
		return rc < 0 ? 2 : 0;
	log_set_level(cfg.log_level);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: the relay uses it */
	struct control ctl = { .cfg = &cfg };
	struct api_keys keys = { 0 };
	_cleanup_err_ struct thaw_err *err = NULL;
	if (cfg.print_host_key)
		return print_host_key(&cfg);
	if (secret_read(cfg.fleet_secret_file, "fleet secret", &ctl.fleet_secret, &err) < 0 ||
	    keys_load_file(cfg.keys_file, &keys, &err) < 0) {
		fprintf(stderr, "thaw-control: %s\n", err_msg(err));
		control_config_free(&cfg);
		return 2;
	}
	if (open_database(&cfg, &ctl.pg, &err) < 0) {
		log_error("control.start", "error=\"%s\"", err_msg(err));
		OPENSSL_cleanse(ctl.fleet_secret, strlen(ctl.fleet_secret));
		free(ctl.fleet_secret);
		keys_free(&keys);
		control_config_free(&cfg);
		return 1;
	}
	rc = serve(&ctl, &keys);
	OPENSSL_cleanse(ctl.fleet_secret, strlen(ctl.fleet_secret));
	free(ctl.fleet_secret);
	keys_free(&keys);
	pg_close(ctl.pg);
	control_config_free(&cfg);
	curl_global_cleanup();
	return rc;
}
