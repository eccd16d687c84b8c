/* /v1/sandboxes/{id}/files...: raw bytes both ways (never JSON-wrapped,
 * never whole in memory), metadata as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

THAW_API void thaw_file_info_free(thaw_file_info *fi)
{
	if (!fi)
		return;
	free(fi->name);
	free(fi->type);
	free(fi->link_target);
	free(fi->json);
	free(fi->path);
	free(fi->owner);
	free(fi->group);
	free(fi);
}

THAW_API void thaw_file_info_list_free(thaw_file_info **list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		thaw_file_info_free(list[i]);
	free(list);
}

static int info_parse(const json_t *o, void **out, thaw_error **err)
{
	if (!json_is_object(o))
		return tl_error_set(err, 0, TL_PROTOCOL, "a file entry is not a JSON object");
	thaw_file_info *fi = tl_xcalloc(1, sizeof(*fi));
	const char *mode = json_string_value(json_object_get(o, "mode"));
	if (tl_json_need_str(o, "name", "a file entry", &fi->name, err) < 0 ||
	    tl_json_need_str(o, "type", "a file entry", &fi->type, err) < 0 || !mode) {
		thaw_file_info_free(fi);
		return tl_error_set(err, 0, TL_PROTOCOL, "a file entry lacks its mode");
	}
	fi->mode = (unsigned)strtoul(mode, NULL, 8);
	json_int_t size = json_integer_value(json_object_get(o, "size"));
	fi->size = size > 0 ? (unsigned long long)size : 0;
	fi->uid = (unsigned)json_integer_value(json_object_get(o, "uid"));
	fi->gid = (unsigned)json_integer_value(json_object_get(o, "gid"));
	fi->mtime = json_number_value(json_object_get(o, "mtime"));
	fi->link_target = tl_json_strdup(o, "link_target");
	fi->path = tl_json_strdup(o, "path");
	fi->owner = tl_json_strdup(o, "owner");
	fi->group = tl_json_strdup(o, "group");
	fi->json = tl_json_dump(o);
	*out = fi;
	return 0;
}

static void info_free(void *item)
{
	thaw_file_info_free(item);
}

/* "/v1/sandboxes/ID/files<route>?path=<escaped><extra>" in a new string. */
static char *files_url(thaw_client *c, const char *id, const char *route, const char *path,
		       const char *extra, thaw_error **err)
{
	if (tl_check_id(id, "sandbox id", err) < 0)
		return NULL;
	if (!path || path[0] != '/') {
		tl_error_set(err, 0, TL_INVALID, "the path must be absolute");
		return NULL;
	}
	char *esc = curl_easy_escape(c->curl, path, 0);
	if (!esc)
		abort();
	char *url = NULL;
	if (asprintf(&url, "/v1/sandboxes/%s/files%s?path=%s%s", id, route, esc,
		     extra ? extra : "") < 0)
		abort();
	curl_free(esc);
	return url;
}

/* A request whose answer is one file object. */
static int info_call(thaw_client *c, struct tl_request *req, thaw_file_info **out, thaw_error **err)
{
	json_t *resp = NULL;
	if (tl_http_call(c, req, &resp, err) < 0)
		return -1;
	int rc = 0;
	void *fi = NULL;
	if (out) {
		rc = info_parse(resp, &fi, err);
		*out = fi;
	}
	json_decref(resp);
	return rc;
}

struct reader {
	thaw_output_fn fn;
	void *ud;
};

static int read_chunk(const char *data, size_t len, void *ud, thaw_error **err)
{
	struct reader *r = ud;
	if (r->fn(1, data, len, r->ud) != 0)
		return tl_error_set(err, 0, "cancelled", "the data callback stopped the read");
	return 0;
}

THAW_API int thaw_file_read(thaw_client *client, const char *id, const char *path,
			    thaw_output_fn on_data, void *userdata, thaw_error **err)
{
	if (!on_data)
		return tl_error_set(err, 0, TL_INVALID, "thaw_file_read needs a data callback");
	char *url = files_url(client, id, "", path, NULL, err);
	if (!url)
		return -1;
	struct reader r = { on_data, userdata };
	struct tl_request req = {
		.method = "GET", .path = url, .expect = 200, .on_data = read_chunk, .data_ud = &r
	};
	int rc = tl_http_call(client, &req, NULL, err);
	free(url);
	return rc;
}

THAW_API int thaw_file_write_fd(thaw_client *client, const char *id, const char *path, int fd,
				long long size, const thaw_file_write_options *opts,
				thaw_file_info **out, thaw_error **err)
{
	static const thaw_file_write_options defaults = { .mode = -1, .uid = -1, .gid = -1 };
	const thaw_file_write_options *o = opts ? opts : &defaults;
	if (o->mode > 07777 || o->mode < -1)
		return tl_error_set(err, 0, TL_INVALID, "mode must be -1 or up to 07777");
	char extra[96] = "";
	size_t n = 0;
	if (o->mode >= 0)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, "&mode=%o", (unsigned)o->mode);
	if (o->uid >= 0)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, "&uid=%ld", o->uid);
	if (o->gid >= 0)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, "&gid=%ld", o->gid);
	if (o->parents)
		snprintf(extra + n, sizeof(extra) - n, "&parents=true");
	char *url = files_url(client, id, "", path, extra, err);
	if (!url)
		return -1;
	struct tl_request req = { .method = "PUT",
				  .path = url,
				  .expect = 200,
				  .has_upload = true,
				  .upload_fd = fd,
				  .upload_size = size };
	int rc = info_call(client, &req, out, err);
	free(url);
	return rc;
}

THAW_API int thaw_file_stat(thaw_client *client, const char *id, const char *path,
			    thaw_file_info **out, thaw_error **err)
{
	char *url = files_url(client, id, "/stat", path, NULL, err);
	if (!url)
		return -1;
	struct tl_request req = { .method = "GET", .path = url, .expect = 200 };
	int rc = info_call(client, &req, out, err);
	free(url);
	return rc;
}

THAW_API int thaw_file_list(thaw_client *client, const char *id, const char *path,
			    thaw_file_info ***out, size_t *n, thaw_error **err)
{
	char *url = files_url(client, id, "/list", path, NULL, err);
	if (!url)
		return -1;
	int rc = tl_list_call(client, url, "entries", info_parse, info_free, (void ***)out, n, err);
	free(url);
	return rc;
}

THAW_API int thaw_file_remove(thaw_client *client, const char *id, const char *path, bool recursive,
			      thaw_error **err)
{
	char *url = files_url(client, id, "", path, recursive ? "&recursive=true" : NULL, err);
	if (!url)
		return -1;
	struct tl_request req = { .method = "DELETE", .path = url, .expect = 204 };
	int rc = tl_http_call(client, &req, NULL, err);
	free(url);
	return rc;
}

THAW_API int thaw_file_list_depth(thaw_client *client, const char *id, const char *path, int depth,
				  thaw_file_info ***out, size_t *n, thaw_error **err)
{
	if (depth < 1 || depth > 10)
		return tl_error_set(err, 0, TL_INVALID, "depth must be 1 to 10");
	char extra[32];
	snprintf(extra, sizeof(extra), "&depth=%d", depth);
	char *url = files_url(client, id, "/list", path, extra, err);
	if (!url)
		return -1;
	int rc = tl_list_call(client, url, "entries", info_parse, info_free, (void ***)out, n, err);
	free(url);
	return rc;
}

THAW_API int thaw_file_move(thaw_client *client, const char *id, const char *from, const char *to,
			    bool overwrite, thaw_file_info **out, thaw_error **err)
{
	if (tl_check_id(id, "sandbox id", err) < 0)
		return -1;
	json_t *f = NULL, *t = NULL;
	if (tl_json_from_str(from ? from : "", "the source path", &f, err) < 0)
		return -1;
	if (tl_json_from_str(to ? to : "", "the target path", &t, err) < 0) {
		json_decref(f);
		return -1;
	}
	json_t *body = json_pack("{s:o,s:o,s:b}", "from", f, "to", t, "overwrite", overwrite);
	char url[192];
	snprintf(url, sizeof(url), "/v1/sandboxes/%s/files/move", id);
	struct tl_request req = { .method = "POST", .path = url, .body = body, .expect = 200 };
	int rc = info_call(client, &req, out, err);
	json_decref(body);
	return rc;
}

THAW_API int thaw_file_mkdir(thaw_client *client, const char *id, const char *path, int mode,
			     bool parents, thaw_file_info **out, thaw_error **err)
{
	if (tl_check_id(id, "sandbox id", err) < 0)
		return -1;
	json_t *p = NULL;
	if (tl_json_from_str(path ? path : "", "the path", &p, err) < 0)
		return -1;
	json_t *body = json_pack("{s:o,s:b}", "path", p, "parents", parents);
	if (mode >= 0) {
		char m[16];
		snprintf(m, sizeof(m), "%04o", (unsigned)mode & 07777);
		json_object_set_new(body, "mode", json_string(m));
	}
	char url[192];
	snprintf(url, sizeof(url), "/v1/sandboxes/%s/files/mkdir", id);
	struct tl_request req = { .method = "POST", .path = url, .body = body, .expect = 201 };
	int rc = info_call(client, &req, out, err);
	json_decref(body);
	return rc;
}
