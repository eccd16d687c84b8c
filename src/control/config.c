#include "control/config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "ids.h"

struct option_spec {
	const char *name, *env, *arg;
	int (*set)(struct control_config *c, const char *v);
	const char *help;
};

static int set_str(char **dst, const char *v)
{
	if (!*v)
		return -1;
	free(*dst);
	*dst = xstrdup(v);
	return 0;
}

static int set_listen(struct control_config *c, const char *v)
{
	const char *colon = strrchr(v, ':');
	char *end;
	long port = colon ? strtol(colon + 1, &end, 10) : 0;
	if (!colon || colon == v || !colon[1] || *end || port < 1 || port > 65535)
		return -1;
	free(c->listen_addr);
	c->listen_addr = xstrndup(v, (size_t)(colon - v));
	c->listen_port = (int)port;
	return 0;
}

static int set_database(struct control_config *c, const char *v)
{
	/* libpq's URI forms; key=value strings are accepted as they are. */
	return set_str(&c->database_url, v);
}
static int set_keys(struct control_config *c, const char *v)
{
	return set_str(&c->keys_file, v);
}
static int set_secret(struct control_config *c, const char *v)
{
	return set_str(&c->fleet_secret_file, v);
}
static int set_s3_endpoint(struct control_config *c, const char *v)
{
	if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8) && strncmp(v, "file:///", 8))
		return -1;
	return set_str(&c->s3_endpoint, v);
}
static int set_s3_bucket(struct control_config *c, const char *v)
{
	size_t n = strlen(v);
	if (n < 3 || n > 63 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789.-") != n)
		return -1;
	return set_str(&c->s3_bucket, v);
}
static int set_s3_region(struct control_config *c, const char *v)
{
	size_t n = strlen(v);
	if (n < 1 || n > 32 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
		return -1;
	return set_str(&c->s3_region, v);
}
static int set_number(const char *v, long lo, long hi, long *out)
{
	char *end;
	long n = strtol(v, &end, 10);
	if (!*v || *end || n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}
static int set_connections(struct control_config *c, const char *v)
{
	long n;
	if (set_number(v, 1, 256, &n) < 0)
		return -1;
	c->db_connections = (unsigned)n;
	return 0;
}
static int set_rate(struct control_config *c, const char *v)
{
	long n;
	if (set_number(v, 0, 1000000, &n) < 0)
		return -1;
	c->rate_limit = (int)n;
	return 0;
}
static int set_print_host_key(struct control_config *c, const char *v)
{
	return id_valid_template(v) ? set_str(&c->print_host_key, v) : -1;
}
static int set_log_level(struct control_config *c, const char *v)
{
	return log_parse_level(v, &c->log_level);
}

static const struct option_spec options[] = {
	{ "listen", "THAW_CONTROL_LISTEN", "ADDR:PORT", set_listen,
	  "API address for users and hosts (127.0.0.1:7430)" },
	{ "database", "THAW_DATABASE_URL", "URL", set_database,
	  "PostgreSQL connection URI (postgresql://user@host:port/db); required" },
	{ "keys-file", "THAW_KEYS_FILE", "PATH", set_keys,
	  "the fleet's API keys (the format of thawd --keys-file); required" },
	{ "fleet-secret-file", "THAW_FLEET_SECRET_FILE", "PATH", set_secret,
	  "the secret hosts present when they join (thawd --fleet-secret-file); required" },
	{ "s3-endpoint", "THAW_S3_ENDPOINT", "URL", set_s3_endpoint,
	  "the object store the hosts share (as thawd's)" },
	{ "s3-bucket", "THAW_S3_BUCKET", "NAME", set_s3_bucket, "its bucket" },
	{ "s3-region", "THAW_S3_REGION", "NAME", set_s3_region, "its region (us-east-1)" },
	{ "db-connections", "THAW_DB_CONNECTIONS", "N", set_connections,
	  "connections to PostgreSQL, shared by the request threads (8)" },
	{ "rate-limit", "THAW_RATE_LIMIT", "N", set_rate,
	  "API requests per second per key, bursts of 2 s (0 = none)" },
	{ "log-level", "THAW_LOG_LEVEL", "LEVEL", set_log_level,
	  "error|warn|notice|info|debug (notice)" },
	{ "print-host-key", NULL, "NAME", set_print_host_key,
	  "print host NAME's key (for its thawd --fleet-secret-file: that host then never holds "
	  "the fleet secret) and exit; needs only --fleet-secret-file" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: thaw-control [OPTIONS]\n\n");
	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		fprintf(f, "  --%s %s\n      %s%s%s%s\n", options[i].name, options[i].arg,
			options[i].help, options[i].env ? " [env " : "",
			options[i].env ? options[i].env : "", options[i].env ? "]" : "");
	fprintf(f, "  --help, --version\n");
}

static int apply(struct control_config *c, const struct option_spec *o, const char *v,
		 const char *what)
{
	if (o->set(c, v) == 0)
		return 0;
	/* The database URL may carry a password: never echoed. */
	bool secret = !strcmp(o->name, "database");
	fprintf(stderr, "thaw-control: invalid %s for --%s (%s)%s%s%s\n", what, o->name, o->arg,
		secret ? "" : ": \"", secret ? "" : v, secret ? "" : "\"");
	return -1;
}

static const struct option_spec *find_option(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		if (!strcmp(options[i].name, name))
			return &options[i];
	return NULL;
}

int control_config_load(int argc, char **argv, struct control_config *c)
{
	memset(c, 0, sizeof(*c));
	c->listen_addr = xstrdup("127.0.0.1");
	c->listen_port = 7430;
	c->s3_region = xstrdup("us-east-1");
	c->db_connections = 8;
	c->log_level = LOG_LVL_NOTICE;
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const char *v = options[i].env ? getenv(options[i].env) : NULL;
		if (v && *v && apply(c, &options[i], v, "environment value") < 0)
			goto fail;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			control_config_free(c);
			return 1;
		}
		if (!strcmp(a, "--version")) {
			printf("thaw-control %s\n", THAW_VERSION);
			control_config_free(c);
			return 1;
		}
		const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
		_cleanup_free_ char *name =
			strncmp(a, "--", 2) == 0
				? xstrndup(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2))
				: NULL;
		const struct option_spec *o = name ? find_option(name) : NULL;
		if (!o) {
			fprintf(stderr, "thaw-control: unknown argument \"%s\" (see --help)\n", a);
			goto fail;
		}
		const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!v) {
			fprintf(stderr, "thaw-control: --%s needs a value (%s)\n", o->name, o->arg);
			goto fail;
		}
		if (apply(c, o, v, "value") < 0)
			goto fail;
	}
	if (c->print_host_key && c->fleet_secret_file)
		return 0;
	if (!c->database_url || !c->keys_file || !c->fleet_secret_file) {
		fprintf(stderr, "thaw-control: --database, --keys-file and --fleet-secret-file are "
				"required (see --help)\n");
		goto fail;
	}
	return 0;
fail:
	control_config_free(c);
	return -1;
}

void control_config_free(struct control_config *c)
{
	free(c->listen_addr);
	free(c->database_url);
	free(c->keys_file);
	free(c->fleet_secret_file);
	free(c->s3_endpoint);
	free(c->s3_bucket);
	free(c->s3_region);
	free(c->print_host_key);
	memset(c, 0, sizeof(*c));
}
