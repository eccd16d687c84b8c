/* Small jansson helpers shared by the resource files: reading what the
 * server sent, and turning caller strings into JSON safely. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

char *tl_json_strdup(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? tl_xstrdup(json_string_value(v)) : NULL;
}

int tl_json_need_str(const json_t *obj, const char *key, const char *what, char **out,
		     thaw_error **err)
{
	char *s = tl_json_strdup(obj, key);
	if (!s)
		return tl_error_set(err, 0, TL_PROTOCOL, "%s has no string \"%s\"", what, key);
	*out = s;
	return 0;
}

int tl_json_int(const json_t *obj, const char *key, int *out)
{
	const json_t *v = json_object_get(obj, key);
	json_int_t i = json_is_integer(v) ? json_integer_value(v) : 0;
	if (!json_is_integer(v) || i < INT_MIN || i > INT_MAX)
		return -1;
	*out = (int)i;
	return 0;
}

int tl_json_int_or_0(const json_t *obj, const char *key)
{
	int i = 0;
	return tl_json_int(obj, key, &i) == 0 ? i : 0;
}

char *tl_json_dump(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
					JSON_REAL_PRECISION(15));
	if (!s)
		abort();
	return s;
}

char *tl_json_dump_member(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return v && !json_is_null(v) ? tl_json_dump(v) : NULL;
}

int tl_json_from_str(const char *s, const char *what, json_t **out, thaw_error **err)
{
	json_t *v = json_string(s);
	if (!v)
		return tl_error_set(err, 0, TL_INVALID, "%s is not valid UTF-8", what);
	*out = v;
	return 0;
}

/* Server ids are "sb-" and 12 characters; anything that cannot be a
 * single clean path segment is refused here rather than sent, so a
 * caller's "../x" never reaches another endpoint. */
int tl_check_id(const char *id, const char *what, thaw_error **err)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyz"
				      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
	if (!id || !*id)
		return tl_error_set(err, 0, TL_INVALID, "%s must not be empty", what);
	size_t n = strlen(id);
	if (n > 128 || strspn(id, allowed) != n)
		return tl_error_set(err, 0, TL_INVALID, "\"%.64s\" is not a valid %s", id, what);
	return 0;
}
