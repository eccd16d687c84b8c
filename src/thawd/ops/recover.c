/* Recover (issue 17, docs/postgres.md "Durability"): a sandbox of a
 * template whose recipe has a "recover" command keeps its disk clone when
 * its VMM dies (ops/vmm_exited.c). POST /v1/sandboxes/{id}/recover
 * cold-boots the template's kernel on that disk in a new incarnation
 * (the guest starts as after a power cut: its services recover from
 * their own logs, PostgreSQL from its WAL), waits for the guest agent,
 * runs the recover command (which brings the services up) and makes the
 * sandbox running again. Nothing else of the sandbox changes: its
 * database password is in the database's own catalog on that disk.
 *
 * The row says "recovering" while the VM boots; a restart finds it
 * failed again with the disk kept (core/sbstate.c), and a failure here
 * leaves it failed, disk kept, to be recovered again or deleted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "core/registry.h"
#include "guestconn/agent.h"
#include "log.h"
#include "ops/ops.h"
#include "template/catalog.h"
#include "template/recipe.h"
#include "timeutil.h"

/* The recover command may replay a database's WAL in an emulated guest:
 * minutes for a large one. */
#define RECOVER_COMMAND_TIMEOUT_MS 300000
#define RECOVER_CONNECT_MS 10000

int sandbox_recover_command(struct host *h, const char *template_name, char **out)
{
	if (out)
		*out = NULL;
	struct recipe r;
	/* A template without a recipe here (a snapshot's) has none. */
	if (recipe_load(h->cfg->recipes_dir, template_name, &r, NULL) < 0)
		return 0;
	int has = r.recover ? 1 : 0;
	if (out && r.recover)
		*out = xstrdup(r.recover);
	recipe_free(&r);
	return has;
}

/* Runs the recover command in the new incarnation (still "recovering",
 * so no request of a user reaches it yet) over its own agent connection. */
static int run_recover_command(struct sandbox *next, const char *cmd, struct thaw_err **err)
{
	struct agent_conn *c = NULL;
	if (agent_connect(next->slot, RECOVER_CONNECT_MS, AGENT_ATTEMPT_RESTORED_MS, NULL, NULL, &c,
			  err) < 0)
		return err_wrap(err, "connecting to the guest agent");
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	struct agent_exec_req req = { .argv = argv,
				      .timeout_ms = RECOVER_COMMAND_TIMEOUT_MS,
				      .max_output = 4096 };
	struct agent_exec_result res;
	memset(&res, 0, sizeof(res));
	int rc = agent_exec(c, &req, &res, err);
	agent_close(c);
	if (rc < 0)
		return err_wrap(err, "running the template's recover command");
	if (res.exit_code != 0 || res.timed_out)
		rc = err_set(err, ERR_UNAVAILABLE,
			     "the template's recover command (%s) %s %d: %.300s", cmd,
			     res.timed_out ? "timed out," : "exited with", res.exit_code,
			     buf_cstr(&res.err));
	agent_exec_result_free(&res);
	return rc;
}

/* Why a failed sandbox cannot be recovered (ERR_CONFLICT), or 0. */
static int check_recoverable(struct host *h, struct sandbox *sb, char **cmd, struct thaw_err **err)
{
	if (!sandbox_recover_command(h, sb->template_name, cmd))
		return err_set(err, ERR_CONFLICT,
			       "sandbox %s cannot be recovered: template %s has no recover command "
			       "(its disk went with its VMM)",
			       sb->id, sb->template_name);
	if (!sandbox_disk_kept(sb))
		return err_set(err, ERR_CONFLICT,
			       "sandbox %s cannot be recovered: its disk was not kept", sb->id);
	return 0;
}

/* Cold boot of sb's kept disk in next, then the recover command. */
static int boot_and_recover(struct host *h, struct sandbox *sb, struct sandbox *next,
			    const char *cmd, struct vm_clock *clk, struct thaw_err **err)
{
	struct template *t = NULL;
	if (catalog_get_build(h->catalog, sb->template_name, sb->build_id, &t, err) < 0)
		return err_wrap(err, "the build its disk came from");
	int rc = 0;
	/* A streamed build's disk is an overlay of the lazy layer's base:
	 * the cold boot path takes a whole disk. */
	if (t->streamed)
		rc = err_set(err, ERR_CONFLICT,
			     "sandbox %s cannot be recovered: its template streams from the "
			     "object store",
			     sb->id);
	/* A memory file of an earlier recover's VM. */
	_cleanup_free_ char *mem = xasprintf("%s/memory.bin", next->dir);
	unlink(mem);
	clk->template = time_mono_ns();
	if (rc == 0)
		rc = vm_start(h, next,
			      &(struct vm_start){ .from = t, .cold_boot = true, .own_disk = true },
			      clk, err);
	catalog_put(h->catalog, t);
	if (rc == 0)
		rc = run_recover_command(next, cmd, err);
	return rc;
}

int sandbox_recover(struct host *h, const char *id, struct sandbox **out, struct thaw_err **err)
{
	struct sandbox *sb;
	if (sandbox_lock_in(h, id, SB_BIT(SB_FAILED), &sb, NULL, err) < 0)
		return err_wrap(err, "recovering sandbox %s", id);
	_cleanup_free_ char *cmd = NULL;
	if (check_recoverable(h, sb, &cmd, err) < 0) {
		sandbox_unlock(h, sb);
		return -1;
	}
	/* The quota already counts a failed sandbox as a VM (delete gives
	 * it back): nothing to reserve. */
	if (sandbox_set_state(h, sb, &(struct sb_change){ .to = SB_RECOVERING }, err) < 0) {
		sandbox_unlock(h, sb);
		return err_wrap(err, "recovering sandbox %s", id);
	}
	struct sandbox *next = sandbox_successor(h, sb);
	next->state = SB_RECOVERING;
	struct vm_clock clk = { .t0 = time_mono_ns() };
	int rc = boot_and_recover(h, sb, next, cmd, &clk, err);
	int64_t timeout_at = deadline_after(sb->timeout_s);
	if (rc == 0) {
		free(next->timings);
		next->timings = vm_clock_json(&clk, time_mono_ns());
		next->timeout_at = timeout_at;
		struct sb_change running = { .to = SB_RUNNING,
					     .vmm = next->vmm,
					     .slot = next->slot,
					     .timeout_at = timeout_at };
		rc = sandbox_set_state(h, next, &running, err);
	}
	if (rc < 0) {
		log_warn("sandbox.recover_failed", "id=%s error=\"%s\"", id,
			 err_msg(err ? *err : NULL));
		sandbox_release_keep_disk(h, next);
		sandbox_unref(h, next);
		_cleanup_free_ char *why =
			xasprintf("recover failed: %s", err_msg(err ? *err : NULL));
		sandbox_set_state(h, sb, &(struct sb_change){ .to = SB_FAILED, .reason = why },
				  NULL);
		sandbox_unlock(h, sb);
		return err_wrap(err, "recovering sandbox %s", id);
	}
	registry_replace(h, sb, next);
	sandbox_retire(sb);
	sandbox_recheck_vmm(h, next);
	*out = next; /* the reference sandbox_successor gave */
	log_info("sandbox.recovered", "id=%s total_ms=%.1f timings=%s", id,
		 ns_to_ms(time_mono_ns() - clk.t0), next->timings);
	sandbox_unlock(h, sb);
	return 0;
}
