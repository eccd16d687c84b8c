#include "recipe.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"

#define RECIPE_MAX_BYTES 65536

static int parse_u32(const char *key, const char *v, uint32_t lo, uint32_t hi, uint32_t *out,
		     struct thaw_err **err)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || *end || end == v || n < lo || n > hi)
		return err_set(err, ERR_INVALID, "recipe: %s must be a number in %u..%u, not \"%s\"",
			       key, lo, hi, v);
	*out = (uint32_t)n;
	return 0;
}

/* Strips one level of matching quotes. */
static char *unquote(char *v)
{
	size_t n = strlen(v);
	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		v[n - 1] = '\0';
		return v + 1;
	}
	return v;
}

/* A PostgreSQL name that needs no quoting (the sandbox's JSON says it,
 * clients pass it on). */
static bool valid_sql_name(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > 63 || (v[0] >= '0' && v[0] <= '9'))
		return false;
	for (; *v; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9') || *v == '_'))
			return false;
	return true;
}

/* "5432", "5432 8080" or "5432,8080": distinct ports. */
static int parse_publish(struct recipe *r, const char *v, struct thaw_err **err)
{
	r->n_publish = 0;
	for (const char *p = v; *p;) {
		if (*p == ' ' || *p == ',') {
			p++;
			continue;
		}
		char *end;
		long n = strtol(p, &end, 10);
		if (end == p || n < 1 || n > 65535 || (*end && *end != ' ' && *end != ','))
			return err_set(err, ERR_INVALID,
				       "recipe: publish must be ports (1 to 65535), not \"%.40s\"", v);
		for (int i = 0; i < r->n_publish; i++)
			if (r->publish[i] == (int)n)
				return err_set(err, ERR_INVALID, "recipe: publish lists %ld twice", n);
		if (r->n_publish == RECIPE_MAX_PUBLISH)
			return err_set(err, ERR_INVALID, "recipe: publish lists more than %d ports",
				       RECIPE_MAX_PUBLISH);
		r->publish[r->n_publish++] = (int)n;
		p = end;
	}
	return 0;
}

static int apply(struct recipe *r, const char *key, const char *v, struct thaw_err **err)
{
	if (strcmp(key, "publish") == 0)
		return parse_publish(r, v, err);
	if (strcmp(key, "memory_mb") == 0)
		return parse_u32(key, v, 128, 65536, &r->memory_mb, err);
	if (strcmp(key, "vcpus") == 0)
		return parse_u32(key, v, 1, 64, &r->vcpus, err);
	if (strcmp(key, "disk_mb") == 0)
		return parse_u32(key, v, 256, 1024 * 1024, &r->disk_mb, err);
	if (strcmp(key, "settle_ms") == 0)
		return parse_u32(key, v, 0, 60000, &r->settle_ms, err);
	if (strcmp(key, "kernel") == 0) {
		if (strcmp(v, "thaw") == 0)
			r->kernel = RECIPE_KERNEL_THAW;
		else if (strcmp(v, "debian-cloud") == 0)
			r->kernel = RECIPE_KERNEL_DEBIAN_CLOUD;
		else
			return err_set(err, ERR_INVALID,
				       "recipe: kernel must be thaw or debian-cloud, not \"%.40s\"", v);
	} else if (strcmp(key, "description") == 0) {
		free(r->description);
		r->description = xstrdup(v);
	} else if (strcmp(key, "cmdline") == 0) {
		free(r->cmdline_extra);
		r->cmdline_extra = xstrdup(v);
	} else if (strcmp(key, "warmup") == 0) {
		free(r->warmup);
		r->warmup = xstrdup(v);
	} else if (strcmp(key, "clone_hook") == 0) {
		if (v[0] != '/')
			return err_set(err, ERR_INVALID,
				       "recipe: clone_hook must be an absolute path in the guest");
		free(r->clone_hook);
		r->clone_hook = xstrdup(v);
	} else if (strcmp(key, "recover") == 0) {
		if (v[0] != '/')
			return err_set(err, ERR_INVALID,
				       "recipe: recover must start with an absolute path in the guest");
		free(r->recover);
		r->recover = xstrdup(v);
	} else if (strcmp(key, "database_user") == 0 || strcmp(key, "database_name") == 0) {
		if (!valid_sql_name(v))
			return err_set(err, ERR_INVALID,
				       "recipe: %s must be 1-63 of [a-z0-9_], not starting with a digit",
				       key);
		char **dst = strcmp(key, "database_user") == 0 ? &r->database_user
							     : &r->database_name;
		free(*dst);
		*dst = xstrdup(v);
	} else if (strcmp(key, "database_port") == 0) {
		return parse_u32(key, v, 1, 65535, &r->database_port, err);
	}
	return 0; /* other keys belong to the build script */
}

static bool valid_key(const char *k)
{
	if (!*k)
		return false;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
		      (*k >= '0' && *k <= '9') || *k == '_'))
			return false;
	return true;
}

int recipe_parse(const char *text, struct recipe *r, struct thaw_err **err)
{
	r->memory_mb = 512;
	r->vcpus = 1;
	r->disk_mb = 2048;
	r->settle_ms = 2000;
	r->kernel = RECIPE_KERNEL_THAW;
	_cleanup_free_ char *copy = xstrdup(text);
	int lineno = 0;
	for (char *line = copy, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '#' || *line == '\0')
			continue;
		char *eq = strchr(line, '=');
		if (eq)
			*eq = '\0';
		/* The build script sources this file: "key = value" would be a
		 * command there, so it is an error here too. */
		if (!eq || !valid_key(line))
			return err_set(err, ERR_INVALID,
				       "recipe line %d: expected KEY=value (no spaces around =), got \"%.40s\"",
				       lineno, line);
		if (apply(r, line, unquote(eq + 1), err) < 0)
			return err_wrap(err, "recipe line %d", lineno);
	}
	/* All three or none: a database nobody can be told how to reach,
	 * or a hook for one that is not there, is a recipe mistake. */
	bool db = r->database_port || r->database_user || r->database_name;
	if (db && !(r->database_port && r->database_user && r->database_name && r->clone_hook))
		return err_set(err, ERR_INVALID,
			       "recipe: database_user, database_name, database_port and "
			       "clone_hook go together");
	return 0;
}

int recipe_load(const char *recipes_dir, const char *name, struct recipe *out,
		struct thaw_err **err)
{
	memset(out, 0, sizeof(*out));
	out->dir = xasprintf("%s/%s", recipes_dir, name);
	_cleanup_free_ char *path = xasprintf("%s/recipe.conf", out->dir);
	if (!fs_exists(path)) {
		recipe_free(out);
		return err_set(err, ERR_NOT_FOUND, "no recipe for template %s (looked for %s)", name,
			       path);
	}
	_cleanup_free_ char *text = NULL;
	if (fs_read_file(path, RECIPE_MAX_BYTES, &text, NULL, err) < 0 ||
	    recipe_parse(text, out, err) < 0) {
		recipe_free(out);
		return err_wrap(err, "reading recipe %s", path);
	}
	return 0;
}

void recipe_free(struct recipe *r)
{
	free(r->dir);
	free(r->description);
	free(r->cmdline_extra);
	free(r->warmup);
	free(r->clone_hook);
	free(r->recover);
	free(r->database_user);
	free(r->database_name);
	memset(r, 0, sizeof(*r));
}
