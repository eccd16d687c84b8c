#include "remote/remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "core/host.h"
#include "fsutil.h"
#include "log.h"
#include "proc.h"
#include "remote/remote_int.h"
#include "template/build.h"

char *remote_manifest_key(const char *name, const char *build_id)
{
	return xasprintf("templates/%s/%s/manifest.json", name, build_id);
}

char *remote_split_build_dir(const char *dir, const char **build_id)
{
	const char *build = strrchr(dir, '/');
	if (!build || build == dir)
		return NULL;
	const char *name = build;
	while (name > dir && name[-1] != '/')
		name--;
	if (name == build || !build[1])
		return NULL;
	*build_id = build + 1;
	return xstrndup(name, (size_t)(build - name));
}

int remote_make_overlay(const char *dir, const char *base, uint64_t size, struct thaw_err **err)
{
	/* -u: the base is not opened (nothing is fetched); the overlay names
	 * it only for a reader's information: QEMU is handed the base as a
	 * descriptor (vmm/qemu_argv.c). */
	_cleanup_free_ char *out = xasprintf("%s/%s", dir, BUILD_OVERLAY_FILE);
	char sz[32];
	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
	const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-u", "-F",
			       "raw",	   "-b",     base, out,	 sz,	  NULL };
	if (proc_run(argv, NULL, NULL, NULL, err) < 0)
		return err_wrap(err, "creating the disk overlay");
	return fs_fsync_path(out, err);
}

char *remote_image_key(const char *image_id)
{
	return xasprintf("images/%s/manifest.json", image_id);
}

char *remote_lazy_id(const char *name, const char *build_id)
{
	return xasprintf("%s.%s", name, build_id);
}

/* Two lines: the access key id, then the secret. */
static int read_credentials(const char *path, char **key, char **secret, struct thaw_err **err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (fs_read_file(path, 4096, &text, &len, err) < 0)
		return err_wrap(err, "reading the object store's credentials");
	char *save = NULL;
	char *a = strtok_r(text, "\r\n", &save);
	char *b = a ? strtok_r(NULL, "\r\n", &save) : NULL;
	if (!a || !b || !*a || !*b)
		return err_set(err, ERR_INVALID,
			       "%s: two lines expected: the access key id, then the secret", path);
	*key = xstrdup(a);
	*secret = xstrdup(b);
	return 0;
}

static void remote_free(struct remote *r)
{
	if (!r)
		return;
	objstore_close(r->os);
	free(r->tmp_dir);
	pthread_mutex_destroy(&r->sync_lock);
	pthread_mutex_destroy(&r->gc_lock);
	free(r);
}

int remote_open(struct host *h, struct thaw_err **err)
{
	const struct thawd_config *cfg = h->cfg;
	if (!cfg->s3_endpoint || cfg->teardown)
		return 0; /* a teardown ends the lazy layer without the store */
	_cleanup_free_ char *key = NULL, *secret = NULL;
	if (cfg->s3_credentials_file) {
		if (read_credentials(cfg->s3_credentials_file, &key, &secret, err) < 0)
			return -1;
	} else if (getenv("AWS_ACCESS_KEY_ID") && getenv("AWS_SECRET_ACCESS_KEY")) {
		key = xstrdup(getenv("AWS_ACCESS_KEY_ID"));
		secret = xstrdup(getenv("AWS_SECRET_ACCESS_KEY"));
	} else if (strncmp(cfg->s3_endpoint, "file://", 7) != 0) {
		return err_set(err, ERR_INVALID,
			       "--s3-endpoint needs credentials: AWS_ACCESS_KEY_ID and "
			       "AWS_SECRET_ACCESS_KEY, or --s3-credentials-file");
	}
	const char *region = cfg->s3_region ? cfg->s3_region : "us-east-1";
	struct remote *r = xcalloc(1, sizeof(*r));
	pthread_mutex_init(&r->sync_lock, NULL);
	pthread_mutex_init(&r->gc_lock, NULL);
	struct objstore_config oc = { .endpoint = cfg->s3_endpoint,
				      .bucket = cfg->s3_bucket,
				      .region = region,
				      .access_key = key,
				      .secret_key = secret };
	r->tmp_dir = xasprintf("%s/tmp", h->store->root);
	if (objstore_open(&oc, &r->os, err) < 0 || fs_mkdir_p(r->tmp_dir, 0700, err) < 0) {
		remote_free(r);
		return err_wrap(err, "opening the object store");
	}
	/* The lazy layer gets the store's configuration in its environment,
	 * never on a command line (which every user of the host can read). */
	_cleanup_free_ char *e_endpoint = xasprintf("THAW_S3_ENDPOINT=%s", cfg->s3_endpoint);
	_cleanup_free_ char *e_bucket =
		xasprintf("THAW_S3_BUCKET=%s", cfg->s3_bucket ? cfg->s3_bucket : "");
	_cleanup_free_ char *e_region = xasprintf("THAW_S3_REGION=%s", region);
	_cleanup_free_ char *e_key = xasprintf("AWS_ACCESS_KEY_ID=%s", key ? key : "");
	_cleanup_free_ char *e_secret = xasprintf("AWS_SECRET_ACCESS_KEY=%s", secret ? secret : "");
	const char *env[] = { e_endpoint, e_bucket, e_region, e_key, e_secret, NULL };
	_cleanup_free_ char *mount = xasprintf("%s/lazy", cfg->data_dir);
	_cleanup_free_ char *cache = xasprintf("%s/chunks", h->store->root);
	_cleanup_free_ char *log = xasprintf("%s/logs/lazyfs.log", cfg->data_dir);
	struct lazy_conf lc = { .binary = cfg->lazyfs_binary,
				.mount_dir = mount,
				.cache_dir = cache,
				.log_path = log,
				.cache_mb = cfg->chunk_cache_mb,
				.log_level = log_level_name(cfg->log_level),
				.env = env };
	if (lazy_start(&lc, &r->lazy, err) < 0) {
		remote_free(r);
		return -1;
	}
	h->remote = r;
	if (remote_uploader_start(h, err) < 0) {
		lazy_stop(r->lazy, false);
		remote_free(r);
		h->remote = NULL;
		return -1;
	}
	log_info("remote.open", "endpoint=%s bucket=%s region=%s", cfg->s3_endpoint,
		 cfg->s3_bucket ? cfg->s3_bucket : "", region);
	return 0;
}

void remote_teardown(const struct thawd_config *cfg)
{
	_cleanup_free_ char *mount = xasprintf("%s/lazy", cfg->data_dir);
	_cleanup_free_ char *log = xasprintf("%s/logs/lazyfs.log", cfg->data_dir);
	lazy_teardown(mount, log);
}

void remote_close(struct host *h, bool teardown)
{
	struct remote *r = h->remote;
	if (!r)
		return;
	remote_uploader_stop(r);
	lazy_stop(r->lazy, teardown);
	remote_free(r);
	h->remote = NULL;
}

static json_t *lazy_counters(struct remote *r)
{
	_cleanup_free_ char *text = lazy_stats(r->lazy, NULL);
	json_t *o = text ? json_loads(text, 0, NULL) : NULL;
	return json_is_object(o) ? o : (json_decref(o), json_object());
}

static uint64_t counter(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);
	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
							       : 0;
}

json_t *remote_info_json(struct host *h)
{
	struct remote *r = h->remote;
	if (!r)
		return NULL;
	struct objstore_stats s;
	objstore_get_stats(r->os, &s);
	json_t *lz = lazy_counters(r);
	/* The lazy layer's fetches are GETs of this host too. */
	json_t *o = json_pack(
		"{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I}", "endpoint",
		objstore_endpoint(r->os), "bucket", objstore_bucket(r->os), "gets",
		(json_int_t)(s.gets + counter(lz, "gets")), "bytes_fetched",
		(json_int_t)(s.bytes_fetched + counter(lz, "bytes_fetched")),
		"zero_windows_skipped", (json_int_t)counter(lz, "zero_windows_skipped"),
		"cache_hits", (json_int_t)counter(lz, "cache_hits"), "cache_bytes",
		(json_int_t)counter(lz, "cache_bytes"), "uploads", (json_int_t)s.puts,
		"bytes_uploaded", (json_int_t)s.bytes_uploaded, "errors",
		(json_int_t)(s.errors + counter(lz, "fetch_errors")), "lazy_layer_alive",
		lazy_alive(r->lazy), "lazy_layer_starts", (json_int_t)lazy_generation(r->lazy));
	json_object_set_new(
		o, "published",
		json_integer((json_int_t)__atomic_load_n(&r->publishes, __ATOMIC_RELAXED)));
	json_object_set_new(o, "windows_same_blocks",
			    json_integer((json_int_t)__atomic_load_n(&r->windows_same_blocks,
								     __ATOMIC_RELAXED)));
	json_object_set_new(
		o, "imported",
		json_integer((json_int_t)__atomic_load_n(&r->imports, __ATOMIC_RELAXED)));
	json_object_set_new(
		o, "gc",
		json_pack("{s:I, s:I, s:I}", "runs",
			  (json_int_t)__atomic_load_n(&r->gc_runs, __ATOMIC_RELAXED), "deleted",
			  (json_int_t)__atomic_load_n(&r->gc_deleted, __ATOMIC_RELAXED),
			  "bytes_deleted",
			  (json_int_t)__atomic_load_n(&r->gc_bytes_deleted, __ATOMIC_RELAXED)));
	json_object_set(o, "lazy_layer", lz);
	json_decref(lz);
	return o;
}
