/* GET /v1/sandboxes on the control plane: the fleet's sandboxes from
 * PostgreSQL, with thawd's filters and pages (state, template, owner,
 * limit, next; the same answer shape) except metadata, which only the
 * hosts keep: a metadata filter is a 400 that says so. The order is
 * (created_at, id), created_at to the microsecond. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/api/api.h"
#include "control/sandboxes.h"
#include "httpapi/keys.h"
#include "pagetoken.h"

#define LIMIT_MAX 1000

struct list_params {
	char state[16], template_name[64], owner[KEY_NAME_MAX + 1];
	long limit;
	bool has_after;
	int64_t after_us;
	char after_id[SANDBOX_ID_LEN + 1];
};

static int one_param(void *ctx, const char *name, const char *v, struct thaw_err **err)
{
	struct list_params *q = ctx;
	if (!strcmp(name, "state")) {
		if (strcmp(v, "running") && strcmp(v, "paused") && strcmp(v, "lost"))
			return err_set(err, ERR_INVALID, "state must be running, paused or lost");
		snprintf(q->state, sizeof(q->state), "%.*s", (int)sizeof(q->state) - 1, v);
	} else if (!strcmp(name, "template")) {
		if (!id_valid_template(v))
			return err_set(err, ERR_INVALID, "template \"%.64s\" is no template name",
				       v);
		snprintf(q->template_name, sizeof(q->template_name), "%.*s",
			 (int)sizeof(q->template_name) - 1, v);
	} else if (!strcmp(name, "owner")) {
		if (!id_valid_key_name(v))
			return err_set(err, ERR_INVALID, "owner must be an API key name");
		snprintf(q->owner, sizeof(q->owner), "%.*s", (int)sizeof(q->owner) - 1, v);
	} else if (!strcmp(name, "limit")) {
		char *end;
		q->limit = strtol(v, &end, 10);
		if (!*v || *end || q->limit < 1 || q->limit > LIMIT_MAX)
			return err_set(err, ERR_INVALID, "limit must be 1 to %d", LIMIT_MAX);
	} else if (!strcmp(name, "next")) {
		if (page_token_parse(v, &q->after_us, q->after_id, err) < 0)
			return -1;
		q->has_after = true;
	} else if (!strncmp(name, "metadata.", 9)) {
		return err_set(err, ERR_INVALID,
			       "the control plane keeps no metadata: filter by metadata on a "
			       "host");
	} else {
		return err_set(err, ERR_INVALID,
			       "unknown query parameter \"%.64s\" (state, template, owner, limit, "
			       "next)",
			       name);
	}
	return 0;
}

enum MHD_Result control_sandbox_list(struct api_req *r)
{
	struct list_params q = { .limit = LIMIT_MAX };
	_cleanup_err_ struct thaw_err *err = NULL;
	if (api_query_each(r, 1024, one_param, &q, &err) < 0)
		return api_reply_error(r, err);
	bool admin = r->key->role == KEY_ADMIN;
	if (q.owner[0] && !admin && strcmp(q.owner, r->key->name) != 0)
		return api_reply_fail(r, ERR_FORBIDDEN,
				      "only admin keys list another owner's sandboxes");
	struct sandbox_list_query lq = {
		.owner = q.owner[0] ? q.owner
			 : admin    ? NULL
				    : r->key->name,
		.state = q.state[0] ? q.state : NULL,
		.template_name = q.template_name[0] ? q.template_name : NULL,
		.after_us = q.after_us,
		.after_id = q.has_after ? q.after_id : NULL,
		.limit = (int)q.limit,
	};
	json_t *a = NULL;
	int64_t next_us = 0;
	char next_id[SANDBOX_ID_LEN + 1];
	if (sandbox_list(api_control(r)->pg, &lq, &a, &next_us, next_id, &err) < 0)
		return api_reply_error(r, err);
	json_t *next = json_null();
	if (next_id[0]) {
		char tok[PAGE_TOKEN_MAX];
		page_token_make(next_us, next_id, tok);
		next = json_string(tok);
	}
	return api_reply_json(r, MHD_HTTP_OK, json_pack("{s:o,s:o}", "sandboxes", a, "next", next));
}
