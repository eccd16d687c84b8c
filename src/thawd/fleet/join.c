#include "fleet/join.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "core/capacity.h"
#include "core/quota.h"
#include "core/registry.h"
#include "core/sandbox.h"
#include "ids.h"
#include "log.h"
#include "secret.h"
#include "timeutil.h"
#include "ops/ops.h"
#include "template/catalog.h"

#define BEAT_MS 2000
#define REQUEST_TIMEOUT_MS 5000

struct fleet_join {
	struct host *h;
	char *secret_header; /* "Authorization: Bearer ..." */
	char *register_url, *beat_url;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, started;
};

static char *cpu_model(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/cpuinfo", "re");
	char line[512];
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) != 0)
			continue;
		char *v = strchr(line, ':');
		if (!v)
			break;
		for (v++; *v == ' '; v++)
			;
		v[strcspn(v, "\n")] = '\0';
		/* Printable and short: the control plane checks it so. */
		for (char *p = v; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				*p = '?';
		return xstrndup(v, 128);
	}
	return xstrdup("unknown");
}

static json_t *templates_json(struct host *h)
{
	json_t *a = json_array();
	struct template_info *items = NULL;
	size_t n = 0;
	if (catalog_list(h->catalog, &items, &n, NULL) == 0)
		for (size_t i = 0; i < n; i++)
			if (!strcmp(items[i].status, "ready"))
				json_array_append_new(a, json_string(items[i].name));
	free(items);
	return a;
}

/* The sandboxes this host has, by state: the control plane brings back
 * those it had given up for lost and forgets those that are gone. */
static json_t *sandboxes_json(struct host *h)
{
	json_t *running = json_array(), *paused = json_array(), *other = json_array();
	size_t n = 0;
	struct sandbox **all = registry_list(h, &n);
	for (size_t i = 0; i < n; i++) {
		enum sb_state st = sandbox_state(all[i]);
		if (st == SB_RUNNING)
			json_array_append_new(running, json_string(all[i]->id));
		else if (st == SB_PAUSED)
			json_array_append_new(paused, json_string(all[i]->id));
		else /* on its way somewhere (pausing, creating...) or failed */
			json_array_append_new(other, json_string(all[i]->id));
	}
	registry_list_free(h, all, n);
	return json_pack("{s:o,s:o,s:o}", "running", running, "paused", paused, "other", other);
}

static json_t *used_json(struct host *h)
{
	uint64_t total_mb = 0, free_mb = 0;
	disk_store_space(h->store, &total_mb, &free_mb); /* 0s if unreadable */
	return json_pack("{s:I,s:I,s:I}", "sandboxes", (json_int_t)registry_count(h),
			 "memory_available_mb", (json_int_t)(mem_available_bytes() >> 20),
			 "disk_free_mb", (json_int_t)free_mb);
}

static json_t *report_json(struct host *h)
{
	const struct thawd_config *cfg = h->cfg;
	uint64_t disk_mb = 0, free_mb = 0;
	disk_store_space(h->store, &disk_mb, &free_mb); /* 0s if unreadable */
	_cleanup_free_ char *cpu = cpu_model();
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:I,s:I,s:I,s:I},s:o,s:o}", "name",
			 cfg->host_name, "address", cfg->advertise, "cpu_model", cpu,
			 "qemu_version", h->drv->version(&h->vmm), "accel",
			 accel_name(h->vmm.accel), "capacity", "memory_mb",
			 (json_int_t)(mem_total_bytes() >> 20), "vcpus",
			 (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "max_sandboxes",
			 (json_int_t)quota_host_max(h->quota), "disk_mb", (json_int_t)disk_mb,
			 "used", used_json(h), "templates", templates_json(h));
}

/* The answer's body, bounded (a heartbeat's answer is a list of ids). */
#define ANSWER_MAX (4u << 20)

static size_t keep(char *p, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;
	if (b->len + size * n > ANSWER_MAX)
		return 0;
	buf_append(b, p, size * n);
	return size * n;
}

/* POSTs body (taken) to url: the HTTP status, or 0 when there was no
 * answer; the answer's body in *answer. */
static long post(struct fleet_join *j, CURL *c, const char *url, json_t *body, struct buf *answer)
{
	buf_reset(answer);
	_cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	hdr = curl_slist_append(hdr, j->secret_header);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, text ? text : "{}");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, answer);
	long status = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	return status;
}

/* Waits ms or until stopped; false when stopped. */
static bool wait_ms(struct fleet_join *j, unsigned ms)
{
	struct timespec until = time_after_ms(CLOCK_REALTIME, ms);
	pthread_mutex_lock(&j->lock);
	while (!j->stop && pthread_cond_timedwait(&j->cond, &j->lock, &until) == 0)
		;
	bool go_on = !j->stop;
	pthread_mutex_unlock(&j->lock);
	return go_on;
}

/* Sandboxes that live on another host now (adopted there from their
 * image while this one was away): this host's copies go. Only ids this
 * host has are acted on. */
static void drop_moved(struct fleet_join *j, const struct buf *answer)
{
	json_t *o = json_loadb(answer->data ? (const char *)answer->data : "", answer->len, 0, NULL);
	json_t *moved = json_object_get(o, "moved");
	size_t i;
	json_t *v;
	json_array_foreach(moved, i, v)
	{
		const char *id = json_string_value(v);
		struct sandbox *sb = id && id_valid_sandbox(id) ? registry_get(j->h, id) : NULL;
		if (!sb)
			continue;
		sandbox_unref(j->h, sb);
		_cleanup_err_ struct thaw_err *err = NULL;
		if (sandbox_delete(j->h, id, &err) < 0)
			log_warn("fleet.moved_delete_failed", "id=%s error=\"%s\"", id, err_msg(err));
		else
			log_notice("fleet.moved_deleted", "id=%s", id);
	}
	json_decref(o);
}

static void *join_main(void *arg)
{
	struct fleet_join *j = arg;
	CURL *c = curl_easy_init();
	bool registered = false;
	long last = -1;
	_cleanup_buf_ struct buf answer = { 0 };
	do {
		long st = registered ? post(j, c, j->beat_url,
					    json_pack("{s:o,s:o,s:o}", "used", used_json(j->h),
						      "templates", templates_json(j->h),
						      "sandboxes", sandboxes_json(j->h)),
					    &answer)
				     : post(j, c, j->register_url, report_json(j->h), &answer);
		if (registered && st == 200)
			drop_moved(j, &answer);
		if (st == 404 && registered) {
			registered = false; /* the control plane forgot this host */
			continue;
		}
		if (!registered && st == 200) {
			registered = true;
			log_notice("fleet.joined", "control=%s host=%s", j->h->cfg->join_url,
				   j->h->cfg->host_name);
		}
		/* Only changes are news: a control plane that is away says so
		 * once, and once again when it is back. */
		bool ok = st >= 200 && st < 300;
		if (ok && !(last >= 200 && last < 300))
			log_notice("fleet.control", "status=%ld registered=%d", st, registered);
		else if (!ok && st != last)
			log_warn("fleet.control", "status=%ld registered=%d hint=\"%s\"", st,
				 registered, st ? "refused" : "no answer");
		last = st;
	} while (wait_ms(j, BEAT_MS));
	curl_easy_cleanup(c);
	return NULL;
}

int fleet_credential(const struct thawd_config *cfg, char out[HOST_KEY_LEN + 1],
		     struct thaw_err **err)
{
	_cleanup_free_ char *secret = NULL;
	if (secret_read(cfg->fleet_secret_file, "fleet secret", &secret, err) < 0)
		return -1;
	if (host_key_form(secret))
		memcpy(out, secret, HOST_KEY_LEN + 1);
	else
		host_key_derive(secret, cfg->host_name, out);
	OPENSSL_cleanse(secret, strlen(secret));
	return 0;
}

int fleet_join_start(struct host *h, struct fleet_join **out, struct thaw_err **err)
{
	const struct thawd_config *cfg = h->cfg;
	*out = NULL;
	if (!cfg->join_url)
		return 0;
	char key[HOST_KEY_LEN + 1];
	if (fleet_credential(cfg, key, err) < 0)
		return -1;
	struct fleet_join *j = xcalloc(1, sizeof(*j));
	j->h = h;
	j->secret_header = xasprintf("Authorization: Bearer %s", key);
	OPENSSL_cleanse(key, sizeof(key));
	const char *base = cfg->join_url;
	size_t n = strlen(base);
	while (n && base[n - 1] == '/')
		n--;
	j->register_url = xasprintf("%.*s/v1/fleet/hosts", (int)n, base);
	j->beat_url = xasprintf("%.*s/v1/fleet/hosts/%s/heartbeat", (int)n, base, cfg->host_name);
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	if (pthread_create(&j->thread, NULL, join_main, j) != 0) {
		fleet_join_stop(j);
		return err_set(err, ERR_INTERNAL, "starting the fleet heartbeat");
	}
	j->started = true;
	*out = j;
	return 0;
}

void fleet_join_stop(struct fleet_join *j)
{
	if (!j)
		return;
	if (j->started) {
		pthread_mutex_lock(&j->lock);
		j->stop = true;
		pthread_cond_signal(&j->cond);
		pthread_mutex_unlock(&j->lock);
		pthread_join(j->thread, NULL);
	}
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	OPENSSL_cleanse(j->secret_header, strlen(j->secret_header));
	free(j->secret_header);
	free(j->register_url);
	free(j->beat_url);
	free(j);
}
