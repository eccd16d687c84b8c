/* What `thaw create` adds for a sandbox with a database (the postgres
 * template, docs/postgres.md): a connection string, on stderr so that
 * id=$(thaw create ...) still gets the id alone. The password is in the
 * create answer only: this is the one time the user sees it. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* A published host port for the database's port, from the answer's
 * "published_ports" (issue 17's tcp part), or 0. */
static json_int_t published_port(json_t *o, json_int_t port, const char **host)
{
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(o, "published_ports"), i, p)
	{
		json_t *addr = json_object_get(p, "host_address");
		json_t *hp = json_object_get(p, "host_port");
		if (json_integer_value(json_object_get(p, "port")) == port &&
		    json_is_string(addr) && json_is_integer(hp)) {
			*host = json_string_value(addr);
			return json_integer_value(hp);
		}
	}
	return 0;
}

void cli_print_database(const thaw_sandbox *sb)
{
	json_t *o = sb->json ? json_loads(sb->json, 0, NULL) : NULL;
	json_t *db = json_object_get(o, "database");
	const char *user = json_string_value(json_object_get(db, "user"));
	const char *dbname = json_string_value(json_object_get(db, "dbname"));
	const char *pw = json_string_value(json_object_get(db, "password"));
	json_int_t port = json_integer_value(json_object_get(db, "port"));
	if (!user || !dbname || port <= 0) {
		json_decref(o);
		return;
	}
	const char *host = "127.0.0.1";
	json_int_t hp = published_port(o, port, &host);
	/* The password's characters (server-checked) need no escaping in a
	 * URI but '/', '@', ':', '%', '^', ',' and '+' would: say it apart
	 * rather than half-escape it. */
	if (hp)
		fprintf(stderr, "database: postgresql://%s@%s:%lld/%s\n", user, host, (long long)hp,
			dbname);
	else
		fprintf(stderr,
			"database: run `thaw port-forward %s %lld:%lld`, then connect to "
			"postgresql://%s@127.0.0.1:%lld/%s\n",
			sb->id, (long long)port, (long long)port, user, (long long)port, dbname);
	if (pw)
		fprintf(stderr, "password: %s (shown once: thaw does not keep it)\n", pw);
	json_decref(o);
}
