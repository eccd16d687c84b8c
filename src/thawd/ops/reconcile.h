/* Start-up reconciliation: make reality agree with the database after
 * thawd was stopped or killed. Running sandboxes whose VMM is still
 * there (same pid and kernel start time), whose namespace exists and
 * whose guest answers are adopted; everything else this instance owns
 * (VMMs, namespaces, disk clones, run directories, half-baked
 * templates) is removed. */
#ifndef THAW_RECONCILE_H
#define THAW_RECONCILE_H

#include "core/host.h"

struct reconcile_report {
	int adopted;
	int failed_kept;
	int cleaned;
	int orphans;
};

void reconcile(struct host *h, struct reconcile_report *rep);

/* Kills every VMM, namespace and clone this instance owns and empties
 * the sandbox table (`thawd --teardown`). */
void reconcile_teardown(struct host *h, struct reconcile_report *rep);

#endif
