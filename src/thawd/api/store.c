/* /v1/object-store/gc: the bucket's collector (remote/gc.c) run now, for
 * operators (admin keys). The janitor runs it every --s3-gc-interval. */
#include "api/api.h"
#include "remote/remote.h"

/* {"grace_s": N?, "dry_run": bool?}: a grace below --s3-gc-grace is the
 * operator's word that no upload to the bucket is running anywhere. */
enum MHD_Result api_store_gc(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_body_object(r, &res);
	if (!body)
		return res;
	json_int_t grace = api_host(r)->cfg->s3_gc_grace_s;
	int dry_run = 0;
	json_error_t jerr;
	int rc = json_unpack_ex(body, &jerr, JSON_STRICT, "{s?I,s?b}", "grace_s", &grace,
				"dry_run", &dry_run);
	json_decref(body);
	if (rc < 0 || grace < 0 || grace > 365ll * 86400)
		return api_reply_fail(r, ERR_INVALID,
				      "body: {\"grace_s\": 0 to 31536000 (optional), \"dry_run\": "
				      "bool (optional)} expected%s%s",
				      rc < 0 ? ": " : "", rc < 0 ? jerr.text : "");
	struct remote_gc_result g;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (remote_gc(api_host(r), (int64_t)grace, dry_run, &g, &err) < 0)
		return api_reply_error(r, err);
	return api_reply_json(
		r, MHD_HTTP_OK,
		json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:f}", "manifests",
			  (json_int_t)g.manifests, "objects", (json_int_t)g.objects, "live",
			  (json_int_t)g.live, "young", (json_int_t)g.young, "deleted",
			  (json_int_t)g.deleted, "bytes_deleted", (json_int_t)g.bytes_deleted,
			  "grace_s", grace, "dry_run", dry_run, "duration_ms", g.ms));
}
