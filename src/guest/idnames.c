/* User and group names for the file commands' metadata, from the guest's
 * own /etc/passwd and /etc/group. The agent is static and libc only, so
 * it reads the files itself instead of asking NSS (which would load
 * shared modules). Each built-in runs in a fresh fork, so the tables are
 * read once per command, on first use, and never refreshed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define IDNAMES_MAX 4096 /* entries kept per file; later ones are not named */
#define LINE_MAX_LEN 1024

struct idname {
	unsigned id;
	char *name;
};

struct idtable {
	const char *path;
	bool loaded;
	size_t n;
	struct idname *v;
};

static struct idtable users = { .path = "/etc/passwd" };
static struct idtable groups = { .path = "/etc/group" };

/* "name:x:ID:...": the name and the third field; 0 when the line has that
 * shape. */
static int parse_line(char *line, unsigned *id, char **name)
{
	char *c1 = strchr(line, ':');
	char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c1 || !c2 || c1 == line || c1 - line > 255)
		return -1;
	char *end;
	unsigned long v = strtoul(c2 + 1, &end, 10);
	if (end == c2 + 1 || *end != ':' || v > 0xffffffffu)
		return -1;
	*c1 = '\0';
	*id = (unsigned)v;
	*name = line;
	return 0;
}

/* Reads the rest of an over-long line, so it is not taken for lines. */
static void skip_rest(FILE *f)
{
	int c;
	while ((c = fgetc(f)) != EOF && c != '\n')
		;
}

static void table_load(struct idtable *t)
{
	t->loaded = true;
	FILE *f = fopen(t->path, "re");
	if (!f)
		return; /* no names: the ids alone */
	char line[LINE_MAX_LEN];
	while (t->n < IDNAMES_MAX && fgets(line, sizeof(line), f)) {
		if (!strchr(line, '\n') && !feof(f)) {
			skip_rest(f);
			continue;
		}
		unsigned id;
		char *name;
		if (line[0] == '#' || parse_line(line, &id, &name) < 0)
			continue;
		if (t->n % 64 == 0) {
			struct idname *v = realloc(t->v, (t->n + 64) * sizeof(*t->v));
			if (!v)
				break; /* out of memory: names are optional */
			t->v = v;
		}
		t->v[t->n].id = id;
		t->v[t->n].name = strdup(name);
		if (t->v[t->n].name)
			t->n++;
	}
	fclose(f);
}

/* The first entry with the id, as getpwuid does. */
static const char *table_find(struct idtable *t, unsigned id)
{
	if (!t->loaded)
		table_load(t);
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].id == id)
			return t->v[i].name;
	return NULL;
}

const char *idnames_user(unsigned uid)
{
	return table_find(&users, uid);
}

const char *idnames_group(unsigned gid)
{
	return table_find(&groups, gid);
}
