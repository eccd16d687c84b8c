/* Per-sandbox secrets for templates whose snapshot holds one (the
 * postgres template, docs/postgres.md): every clone of a snapshot starts
 * with the baked password, so before create or fork answers, thawd runs
 * the recipe's clone_hook in the new sandbox with the new password's
 * SCRAM-SHA-256 verifier on its stdin (computed here: 4096 PBKDF2 rounds
 * take ~1 ms on the host and ~300 ms in an emulated guest; the password
 * itself never enters the guest). The password is kept on the sandbox
 * only until the answer takes it (sandbox_take_db_password); thawd never
 * stores it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "buf.h"
#include "cleanup.h"
#include "guestconn/agent.h"
#include "log.h"
#include "scram.h"
#include "ops/ops.h"
#include "template/recipe.h"
#include "timeutil.h"

/* The hook runs on the create path: it has this long (it takes tens of
 * ms with the guest's helper, a few hundred without). */
#define CLONE_HOOK_TIMEOUT_MS 30000

int sandbox_database(struct host *h, const char *template_name, struct sb_database *out)
{
	memset(out, 0, sizeof(*out));
	struct recipe r;
	/* The template's recipe on this host (a template without one, e.g.
	 * a snapshot's, has no database). */
	if (recipe_load(h->cfg->recipes_dir, template_name, &r, NULL) < 0)
		return 0;
	int has = r.clone_hook ? 1 : 0;
	if (r.clone_hook)
		snprintf(out->hook, sizeof(out->hook), "%s", r.clone_hook);
	if (r.database_port) {
		snprintf(out->user, sizeof(out->user), "%s", r.database_user);
		snprintf(out->dbname, sizeof(out->dbname), "%s", r.database_name);
		out->port = r.database_port;
	}
	recipe_free(&r);
	return has;
}

/* 24 random characters of [A-Za-z0-9]: 142 bits. Bytes from 248 up are
 * dropped, so that each character is equally likely (248 = 4 * 62). */
static void new_password(char out[25])
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	size_t n = 0;
	while (n < 24) {
		unsigned char raw[32];
		if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
			continue; /* EINTR; the pool is initialised long before thawd runs */
		for (size_t i = 0; i < sizeof(raw) && n < 24; i++)
			if (raw[i] < 248)
				out[n++] = alphabet[raw[i] % 62];
		explicit_bzero(raw, sizeof(raw));
	}
	out[24] = '\0';
}

int sandbox_clone_hook(struct host *h, struct sandbox *sb, const char *password,
		       struct thaw_err **err)
{
	struct sb_database db;
	if (!sandbox_database(h, sb->template_name, &db))
		return 0;
	char fresh[25];
	if (password && !db_password_valid(password))
		return err_set(err, ERR_INVALID,
			       "database.password must be %d-%d of "
			       "[A-Za-z0-9._~+/=@%%^:,-]",
			       DB_PASSWORD_MIN, DB_PASSWORD_MAX);
	if (!password) {
		new_password(fresh);
		password = fresh;
	}
	unsigned char salt[SCRAM_SALT_LEN];
	_cleanup_buf_ struct buf line = { 0 };
	int rc = getrandom(salt, sizeof(salt), 0) == (ssize_t)sizeof(salt)
			 ? scram_verifier(password, salt, sizeof(salt), &line, err)
			 : err_sys(err, "getrandom");
	if (rc < 0) {
		explicit_bzero(fresh, sizeof(fresh));
		return -1;
	}
	buf_append(&line, "\n", 1);
	const char *argv[] = { db.hook, NULL };
	struct agent_exec_req req = { .argv = argv,
				      .stdin_data = (const uint8_t *)buf_cstr(&line),
				      .stdin_len = line.len,
				      .has_stdin = true,
				      .timeout_ms = CLONE_HOOK_TIMEOUT_MS,
				      .max_output = 4096 };
	struct agent_exec_result res;
	memset(&res, 0, sizeof(res));
	uint64_t t0 = time_mono_ns();
	rc = sandbox_exec(h, sb->id, &req, false, &res, err);
	if (rc == 0 && (res.exit_code != 0 || res.timed_out))
		rc = err_set(err, ERR_UNAVAILABLE, "the template's clone hook %s %s %d: %.300s",
			     db.hook, res.timed_out ? "timed out," : "exited with", res.exit_code,
			     buf_cstr(&res.err));
	agent_exec_result_free(&res);
	if (rc < 0) {
		explicit_bzero(fresh, sizeof(fresh));
		return err_wrap(err, "giving sandbox %s its own database password", sb->id);
	}
	log_info("sandbox.clone_hook", "id=%s ms=%.1f", sb->id, ns_to_ms(time_mono_ns() - t0));
	pthread_mutex_lock(&sb->lock);
	free(sb->db_password);
	sb->db_password = xstrdup(password);
	pthread_mutex_unlock(&sb->lock);
	explicit_bzero(fresh, sizeof(fresh));
	return 0;
}

char *sandbox_take_db_password(struct sandbox *sb)
{
	pthread_mutex_lock(&sb->lock);
	char *pw = sb->db_password;
	sb->db_password = NULL;
	pthread_mutex_unlock(&sb->lock);
	return pw;
}
