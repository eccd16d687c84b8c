/* The sandbox's process table: list it, follow a process's output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

THAW_API void thaw_process_list_free(thaw_process **list, size_t n)
{
	for (size_t i = 0; list && i < n; i++) {
		free(list[i]->tag);
		free(list[i]->cmd);
		free(list[i]->started_at);
		free(list[i]->json);
		free(list[i]);
	}
	free(list);
}

static void process_item_free(void *item)
{
	thaw_process *p = item;
	thaw_process_list_free(&p, 1);
}

static int process_item(const json_t *o, void **out, thaw_error **err)
{
	json_int_t pid = json_integer_value(json_object_get(o, "pid"));
	if (!json_is_object(o) || pid < 1 || pid > 4194304)
		return tl_error_set(err, 0, TL_PROTOCOL, "a process entry has no pid");
	thaw_process *p = tl_xcalloc(1, sizeof(*p));
	p->pid = (unsigned)pid;
	p->tag = tl_json_strdup(o, "tag");
	p->cmd = tl_json_strdup(o, "cmd");
	p->started_at = tl_json_strdup(o, "started_at");
	if (!p->cmd)
		p->cmd = tl_xstrdup("");
	p->running = json_is_true(json_object_get(o, "running"));
	p->pty = json_is_true(json_object_get(o, "pty"));
	p->exit_code = tl_json_int_or_0(o, "exit_code");
	p->signal = tl_json_int_or_0(o, "signal");
	p->json = tl_json_dump(o);
	*out = p;
	return 0;
}

THAW_API int thaw_process_list(thaw_client *client, const char *id, thaw_process ***out, size_t *n,
			       thaw_error **err)
{
	if (tl_check_id(id, "sandbox id", err) < 0)
		return -1;
	char path[192];
	snprintf(path, sizeof(path), "/v1/sandboxes/%s/processes", id);
	return tl_list_call(client, path, "processes", process_item, process_item_free,
			    (void ***)out, n, err);
}

THAW_API int thaw_process_attach(thaw_client *client, const char *id, unsigned pid, bool from_start,
				 thaw_output_fn on_output, void *userdata, thaw_exec_result **out,
				 thaw_error **err)
{
	if (!on_output)
		return tl_error_set(err, 0, TL_INVALID, "attaching needs an output callback");
	if (tl_check_id(id, "sandbox id", err) < 0)
		return -1;
	char path[256];
	snprintf(path, sizeof(path), "/v1/sandboxes/%s/processes/%u/stream?from=%s&encoding=base64",
		 id, pid, from_start ? "start" : "now");
	struct tl_stream_exec x = { .on_output = on_output, .ud = userdata };
	struct tl_request req = { .method = "GET",
				  .path = path,
				  .expect = 200,
				  .on_line = tl_stream_on_line,
				  .line_ud = &x };
	int rc = tl_http_call(client, &req, NULL, err);
	if (rc == 0 && !x.result)
		rc = tl_error_set(err, 0, TL_PROTOCOL, "the stream ended before the process");
	if (rc == 0)
		*out = x.result;
	else
		thaw_exec_result_free(x.result);
	return rc;
}
