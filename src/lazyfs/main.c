/* thaw-lazyfs: options, the object store from the environment, the mount,
 * the FUSE loop and an orderly stop on SIGTERM/SIGINT/SIGHUP. */
#define FUSE_USE_VERSION 312

#include "lazyfs.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "fsutil.h"
#include "log.h"
#include "objstore.h"

struct options {
	const char *mount, *cache, *log_level;
	uint64_t max_fetches, high_mib, low_mib, readahead_kib;
	bool foreground, low_given;
};

enum opt_kind { OPT_PATH, OPT_UINT, OPT_FLAG };

static const struct opt {
	const char *name;
	enum opt_kind kind;
	size_t field;
	uint64_t lo, hi;
	const char *help;
} opts[] = {
	{ "mount", OPT_PATH, offsetof(struct options, mount), 0, 0,
	  "DIR  where to mount (required)" },
	{ "cache", OPT_PATH, offsetof(struct options, cache), 0, 0,
	  "DIR  the chunk cache; manifests in DIR/manifests (required)" },
	{ "max-fetches", OPT_UINT, offsetof(struct options, max_fetches), 1, 256,
	  "N    parallel GETs at most (default 8)" },
	{ "cache-high-mib", OPT_UINT, offsetof(struct options, high_mib), 1, 1u << 30,
	  "N    evict when the cache holds more (default 8192)" },
	{ "cache-low-mib", OPT_UINT, offsetof(struct options, low_mib), 0, 1u << 30,
	  "N    evict down to this (default 3/4 of the high mark)" },
	{ "readahead-kib", OPT_UINT, offsetof(struct options, readahead_kib), 0, 4096,
	  "N    the kernel's readahead on served files (default 0: a fault reads its own page)" },
	{ "foreground", OPT_FLAG, offsetof(struct options, foreground), 0, 0,
	  "     do not daemonize" },
	{ "log-level", OPT_PATH, offsetof(struct options, log_level), 0, 0,
	  "L    error|warn|notice|info|debug (default notice)" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: thaw-lazyfs --mount DIR --cache DIR [options]\n\n");
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
		fprintf(out, "  --%-16s %s\n", opts[i].name, opts[i].help);
	fprintf(out, "\nThe object store comes from the environment: THAW_S3_ENDPOINT "
		     "(http(s)://host[:port] or file:///dir),\nTHAW_S3_BUCKET, THAW_S3_REGION, "
		     "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.\n");
}

static int set_opt(struct options *o, const struct opt *d, const char *arg, struct thaw_err **err)
{
	char *p = (char *)o + d->field;
	if (d->kind == OPT_FLAG) {
		*(bool *)p = true;
		return 0;
	}
	if (d->kind == OPT_PATH) {
		*(const char **)p = arg;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < d->lo || v > d->hi)
		return err_set(err, ERR_INVALID, "--%s must be an integer in %llu..%llu", d->name,
			       (unsigned long long)d->lo, (unsigned long long)d->hi);
	*(uint64_t *)p = v;
	if (strcmp(d->name, "cache-low-mib") == 0)
		o->low_given = true;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o, struct thaw_err **err)
{
	struct option lo[ARRAY_SIZE(opts) + 2];
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
		lo[i] = (struct option){ opts[i].name,
					 opts[i].kind == OPT_FLAG ? no_argument : required_argument,
					 NULL, (int)i };
	lo[ARRAY_SIZE(opts)] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[ARRAY_SIZE(opts) + 1] = (struct option){ 0 };
	*o = (struct options){ .max_fetches = 8, .high_mib = 8192 };
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c < 0 || (size_t)c >= ARRAY_SIZE(opts))
			return err_set(err, ERR_INVALID, "unknown option (see --help)");
		if (set_opt(o, &opts[c], optarg, err) < 0)
			return -1;
	}
	if (optind < argc)
		return err_set(err, ERR_INVALID, "unexpected argument %s", argv[optind]);
	if (!o->mount || !o->cache)
		return err_set(err, ERR_INVALID, "--mount and --cache are required");
	if (!o->low_given)
		o->low_mib = o->high_mib * 3 / 4;
	if (o->low_mib > o->high_mib)
		return err_set(err, ERR_INVALID,
			       "--cache-low-mib must not exceed --cache-high-mib");
	enum log_level lvl;
	if (o->log_level && log_parse_level(o->log_level, &lvl) < 0)
		return err_set(err, ERR_INVALID, "unknown --log-level %s", o->log_level);
	if (o->log_level)
		log_set_level(lvl);
	return 0;
}

static int open_store(struct objstore **out, struct thaw_err **err)
{
	const char *endpoint = getenv("THAW_S3_ENDPOINT");
	if (!endpoint || !*endpoint)
		return err_set(err, ERR_INVALID, "THAW_S3_ENDPOINT is not set");
	struct objstore_config c = {
		.endpoint = endpoint,
		.bucket = getenv("THAW_S3_BUCKET"),
		.region = getenv("THAW_S3_REGION"),
		.access_key = getenv("AWS_ACCESS_KEY_ID"),
		.secret_key = getenv("AWS_SECRET_ACCESS_KEY"),
	};
	return objstore_open(&c, out, err);
}

/* A mount left by a lazyfs that died answers ENOTCONN: detach it. A live
 * one is refused (two file systems stacked on one path help no one). */
static int clear_mountpoint(const char *dir, struct thaw_err **err)
{
	struct stat st;
	if (stat(dir, &st) < 0 && errno == ENOTCONN) {
		log_notice("lazyfs.stale_mount", "dir=%s action=detach", dir);
		if (umount2(dir, MNT_DETACH) < 0)
			return err_sys(err, "detaching the stale mount on %s", dir);
	}
	if (fs_mkdir_p(dir, 0755, err) < 0)
		return -1;
	if (fs_is_mountpoint(dir))
		return err_set(err, ERR_CONFLICT, "%s is already a mount point", dir);
	return 0;
}

/* Every cached object holds two descriptors. */
static void raise_fd_limit(void)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

static struct fuse_session *mount_fs(struct lazyfs *fs, const char *dir, struct thaw_err **err)
{
	char *argv[] = { "thaw-lazyfs", "-o",
			 "allow_other,default_permissions,fsname=thaw-lazyfs,subtype=thaw-lazyfs",
			 NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct fuse_session *se = fuse_session_new(&args, &lazyfs_ops, sizeof(lazyfs_ops), fs);
	fuse_opt_free_args(&args);
	if (!se) {
		err_set(err, ERR_INTERNAL, "fuse_session_new failed");
		return NULL;
	}
	if (fuse_session_mount(se, dir) != 0) {
		fuse_session_destroy(se);
		err_set(err, ERR_UNAVAILABLE, "mounting on %s failed (root? /dev/fuse?)", dir);
		return NULL;
	}
	return se;
}

static int serve(struct fuse_session *se)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	/* Demand reads block on the store up to its deadline: room for many. */
	fuse_loop_cfg_set_max_threads(cfg, 64);
	fuse_loop_cfg_set_idle_threads(cfg, 8);
	int rc = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return rc;
}

static int run(const struct options *o, struct lazyfs *fs, struct thaw_err **err)
{
	struct fuse_session *se = mount_fs(fs, o->mount, err);
	if (!se)
		return -1;
	int rc = -1;
	if (fuse_set_signal_handlers(se) != 0) {
		err_set(err, ERR_INTERNAL, "installing signal handlers");
		goto unmount;
	}
	if (fuse_daemonize(o->foreground) != 0) {
		err_set(err, ERR_INTERNAL, "daemonizing");
		goto signals;
	}
	fs->readahead_bytes = (unsigned)o->readahead_kib << 10;
	const char *pf = getenv("THAW_LAZYFS_PREFETCH");
	fs->no_prefetch = pf && strcmp(pf, "off") == 0;
	/* Threads start after the fork of fuse_daemonize. */
	if (fetcher_start(&fs->fetch, &fs->ns, fs->fetch.store, fs->cache, (unsigned)o->max_fetches,
			  err) < 0 ||
	    evict_start(fs->cache, err) < 0 || flush_start(fs->cache, err) < 0)
		goto stop;
	log_notice("lazyfs.started",
		   "mount=%s cache=%s max_fetches=%llu high_mib=%llu low_mib=%llu", o->mount,
		   o->cache, (unsigned long long)o->max_fetches, (unsigned long long)o->high_mib,
		   (unsigned long long)o->low_mib);
	/* A signal ends the loop with its number: an orderly stop. */
	rc = serve(se);
	if (rc < 0)
		err_set(err, ERR_INTERNAL, "the FUSE loop failed (%d)", rc);
	rc = rc < 0 ? -1 : 0;
stop:
	fetcher_stop(&fs->fetch);
	evict_stop(fs->cache);
	flush_stop(fs->cache); /* last: what the fetches wrote becomes durable */
      signals:
	fuse_remove_signal_handlers(se);
unmount:
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	return rc;
}

int main(int argc, char **argv)
{
	_cleanup_err_ struct thaw_err *err = NULL;
	struct options o;
	struct objstore *store = NULL;
	struct lazyfs fs = { .snaps_mu = PTHREAD_MUTEX_INITIALIZER };
	int rc = 1;
	if (parse_args(argc, argv, &o, &err) < 0) {
		fprintf(stderr, "thaw-lazyfs: %s\n", err_msg(err));
		usage(stderr);
		return 2;
	}
	raise_fd_limit();
	if (open_store(&store, &err) < 0 || clear_mountpoint(o.mount, &err) < 0 ||
	    cache_open(o.cache, o.high_mib << 20, o.low_mib << 20, &fs.cache, &err) < 0 ||
	    ns_init(&fs.ns, o.cache, fs.cache, &err) < 0)
		goto out;
	fs.fetch.store = store;
	if (run(&o, &fs, &err) == 0)
		rc = 0;
out:
	if (err)
		log_error("lazyfs.failed", "error=\"%s\"", err_msg(err));
	else
		log_notice("lazyfs.stopped", "mount=%s", o.mount);
	fs_free_handles(&fs);
	ns_fini(&fs.ns);
	cache_close(fs.cache);
	objstore_close(store);
	return rc;
}
