/* A background thread that deletes sandboxes whose timeout passed. */
#ifndef THAW_JANITOR_H
#define THAW_JANITOR_H

#include "err.h"

struct host;
struct janitor;

int janitor_start(struct host *h, struct janitor **out, struct thaw_err **err);
void janitor_stop(struct janitor *j);

#endif
