/* The process table: every command the agent started, by pid, from its
 * start until it is one of more than PROC_MAX_EXITED finished ones. It
 * lives in the agent's memory, so a snapshot, a pause or a fork child
 * carries it along with the processes themselves. */
#include <stdlib.h>

#include "session.h"

struct session *proctab_find(const struct proctab *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->pid == pid)
			return t->v[i];
	return NULL;
}

size_t proctab_live(const struct proctab *t)
{
	size_t live = 0;
	for (size_t i = 0; i < t->n; i++)
		live += !t->v[i]->finished;
	return live;
}

/* A pid is reused once its process is reaped: an old entry that holds
 * it would shadow the new command. */
static void drop_pid(struct proctab *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i]->pid == pid && t->v[i]->finished) {
			session_free(t->v[i]);
			t->v[i] = t->v[--t->n];
			return;
		}
	}
}

void proctab_add(struct proctab *t, struct session *s)
{
	drop_pid(t, s->pid);
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	t->v[t->n++] = s;
}

/* The table keeps no order (removal moves the last entry): the oldest
 * finished entry is the one that ended first. */
void proctab_prune(struct proctab *t)
{
	/* What the host's own requests ran (file operations, run_code)
	 * would push the user's commands out. */
	for (size_t i = 0; i < t->n;) {
		if (t->v[i]->finished && t->v[i]->builtin) {
			session_free(t->v[i]);
			t->v[i] = t->v[--t->n];
		} else {
			i++;
		}
	}
	size_t finished = t->n - proctab_live(t);
	while (finished > PROC_MAX_EXITED) {
		size_t oldest = t->n;
		for (size_t i = 0; i < t->n; i++)
			if (t->v[i]->finished &&
			    (oldest == t->n || t->v[i]->end_ns < t->v[oldest]->end_ns))
				oldest = i;
		session_free(t->v[oldest]);
		t->v[oldest] = t->v[--t->n];
		finished--;
	}
}
