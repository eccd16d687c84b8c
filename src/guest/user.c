/* Commands run as a user of the guest (EXEC's T_USER): looked up in the
 * guest's own /etc/passwd and /etc/group, parsed here because a static
 * libc has no working NSS. */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#define PASSWD_FILE "/etc/passwd"
#define GROUP_FILE "/etc/group"

/* Splits a colon-separated line in place into at most max fields;
 * returns how many there are. */
static int split_fields(char *line, char **f, int max)
{
	int n = 0;
	line[strcspn(line, "\r\n")] = '\0';
	while (n < max) {
		f[n++] = line;
		char *colon = strchr(line, ':');
		if (!colon)
			break;
		*colon = '\0';
		line = colon + 1;
	}
	return n;
}

static int parse_id(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > 0xfffffffeul)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static bool member_of(char *members, const char *name)
{
	for (char *save = NULL, *m = strtok_r(members, ",", &save); m;
	     m = strtok_r(NULL, ",", &save))
		if (strcmp(m, name) == 0)
			return true;
	return false;
}

/* The supplementary groups that list u->name, after its primary one. */
static void find_groups(struct guest_user *u)
{
	u->groups[0] = u->gid;
	u->ngroups = 1;
	FILE *f = fopen(GROUP_FILE, "re");
	if (!f)
		return;
	char line[4096];
	while (fgets(line, sizeof(line), f) && u->ngroups < GUEST_USER_MAX_GROUPS) {
		char *fl[4];
		unsigned gid;
		if (split_fields(line, fl, 4) == 4 && parse_id(fl[2], &gid) == 0 && gid != u->gid &&
		    member_of(fl[3], u->name))
			u->groups[u->ngroups++] = gid;
	}
	fclose(f);
}

int user_lookup(const char *name, struct guest_user *u, const char **why)
{
	memset(u, 0, sizeof(*u));
	if (!*name || strlen(name) >= sizeof(u->name) || strchr(name, ':')) {
		*why = "user name is not valid";
		return -1;
	}
	FILE *f = fopen(PASSWD_FILE, "re");
	if (!f) {
		*why = "cannot read the guest's " PASSWD_FILE;
		return -1;
	}
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *fl[7];
		unsigned uid, gid;
		if (split_fields(line, fl, 7) < 7 || strcmp(fl[0], name) != 0)
			continue;
		if (parse_id(fl[2], &uid) < 0 || parse_id(fl[3], &gid) < 0 || fl[5][0] != '/' ||
		    strlen(fl[5]) >= sizeof(u->home))
			break;
		u->uid = uid;
		u->gid = gid;
		snprintf(u->name, sizeof(u->name), "%s", name);
		snprintf(u->home, sizeof(u->home), "%s", fl[5]);
		found = true;
	}
	fclose(f);
	if (!found) {
		*why = "no such user in the guest's " PASSWD_FILE;
		return -1;
	}
	find_groups(u);
	return 0;
}

int user_become(const struct guest_user *u)
{
	if (setgroups((size_t)u->ngroups, u->groups) < 0 || setgid(u->gid) < 0 ||
	    setuid(u->uid) < 0)
		return -1;
	return 0;
}

char **user_env(char *const *envp, const struct guest_user *u, bool own_home)
{
	const char *keys[] = { "HOME=", "USER=", "LOGNAME=" };
	const char *vals[] = { u->home, u->name, u->name };
	size_t n = 0;
	while (envp && envp[n])
		n++;
	char **out = xcalloc(n + 4, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!own_home || strncmp(envp[i], "HOME=", 5) != 0)
			out[k++] = xstrdup(envp[i]);
	for (size_t j = 0; j < 3; j++) {
		bool set = false;
		for (size_t i = 0; i < n && !set && !(own_home && j == 0); i++)
			set = strncmp(envp[i], keys[j], strlen(keys[j])) == 0;
		if (!set)
			out[k++] = xasprintf("%s%s", keys[j], vals[j]);
	}
	return out;
}
