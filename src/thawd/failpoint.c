#include "failpoint.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "vmm/vmm.h"

enum fp_action { FP_NONE, FP_CRASH, FP_KILL_VMM };

/* Where each operation can be cut, in the order it passes them. */
static const char *const names[] = {
	"create.recorded", /* its row says "creating"; nothing runs yet */
	"create.restored", /* the VMM runs the guest, not yet probed */
	"create.ready",	   /* the guest answered; the row still says creating */
	"create.running",  /* the row says running; the client has no answer */
	"exec.connected",  /* connected to the guest agent, command not sent */
	"fork.stopped",	   /* the parent's guest captured, still stopped */
	"fork.captured",   /* the image is published, the parent runs again */
	"fork.child",	   /* a child's VM runs, not yet probed; its row: creating */
	"pause.stopped",   /* the guest captured and stopped; no image yet */
	"pause.captured",  /* the image is durable; the row says pausing */
	"pause.recorded",  /* the row says paused; the VMM still runs */
	"resume.recorded", /* the row says resuming; no VMM yet */
	"resume.restored", /* the new VMM runs the guest; the row says resuming */
	"delete.recorded", /* the row says deleting; everything still exists */
	"delete.released", /* VMM, slot and disk gone; the row is still there */
	"network.recorded", /* the row has the new policy; the slot the old one */
	NULL,
};

static bool enabled;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char armed[32];
static enum fp_action action;
static uint64_t fired;

void failpoints_enable(void)
{
	enabled = true;
}

bool failpoints_enabled(void)
{
	return enabled;
}

const char *const *failpoint_names(void)
{
	return names;
}

static bool known(const char *name)
{
	for (size_t i = 0; names[i]; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

int failpoint_arm(const char *name, const char *what, struct thaw_err **err)
{
	if (!enabled)
		return err_set(err, ERR_FORBIDDEN, "failpoints are off (thawd --failpoints)");
	enum fp_action a = strcmp(what, "crash") == 0	   ? FP_CRASH
			   : strcmp(what, "kill-vmm") == 0 ? FP_KILL_VMM
							   : FP_NONE;
	if (a == FP_NONE)
		return err_set(err, ERR_INVALID, "action must be crash or kill-vmm, not %s", what);
	if (!known(name))
		return err_set(err, ERR_INVALID, "no failpoint named %s", name);
	pthread_mutex_lock(&lock);
	snprintf(armed, sizeof(armed), "%s", name);
	action = a;
	pthread_mutex_unlock(&lock);
	log_notice("failpoint.armed", "name=%s action=%s", name, what);
	return 0;
}

void failpoint_status(char *out, size_t size, uint64_t *n)
{
	pthread_mutex_lock(&lock);
	snprintf(out, size, "%s", armed);
	*n = fired;
	pthread_mutex_unlock(&lock);
}

void failpoint(const char *name, const struct vmm *vmm)
{
	if (!__atomic_load_n(&enabled, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&lock);
	enum fp_action a = strcmp(armed, name) == 0 ? action : FP_NONE;
	if (a != FP_NONE) {
		armed[0] = '\0';
		fired++;
	}
	pthread_mutex_unlock(&lock);
	if (a == FP_NONE)
		return;
	log_notice("failpoint.fired", "name=%s action=%s", name,
		   a == FP_CRASH ? "crash" : "kill-vmm");
	if (a == FP_CRASH)
		raise(SIGKILL);
	if (vmm && vmm->pidfd >= 0) {
		syscall(SYS_pidfd_send_signal, vmm->pidfd, SIGKILL, NULL, 0);
		/* Gone before the operation goes on: what it finds next is a
		 * dead VMM, as after a real crash at this point. */
		while (!vmm_exited(vmm))
			usleep(1000);
	}
}
