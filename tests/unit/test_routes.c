/* src/thawd/api/routes.c (thawd's routing table) and src/httpapi/routes.c (api_route_match). */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/api.h"

struct match {
	int rc;
	const struct api_route *route;
	char params[API_MAX_PARAMS][128];
	const char *tail;
	char allow[128];
};

static struct match route(const char *method, const char *path)
{
	struct match m;
	memset(&m, 0, sizeof(m));
	memset(m.allow, 'Z', sizeof(m.allow));
	m.rc = api_route_match(api_routes, api_route_count, method, path, &m.route, m.params, &m.tail, m.allow, sizeof(m.allow));
	return m;
}

static void expect(const char *method, const char *path, api_handler h, const char *param)
{
	struct match m = route(method, path);
	if (m.rc != 1)
		fail_msg("%s %s: expected a match, got %d", method, path, m.rc);
	assert_ptr_equal(m.route->handler, h);
	assert_string_equal(m.route->method, method);
	if (param)
		assert_string_equal(m.params[0], param);
}

static void expect_unknown(const char *method, const char *path)
{
	struct match m = route(method, path);
	if (m.rc != 0)
		fail_msg("%s %s: expected an unknown path, got %d", method, path, m.rc);
	assert_string_equal(m.allow, "");
}

static void expect_allow(const char *method, const char *path, const char *allow)
{
	struct match m = route(method, path);
	if (m.rc != -1)
		fail_msg("%s %s: expected a wrong method, got %d", method, path, m.rc);
	assert_string_equal(m.allow, allow);
}

static void test_exact_paths_match(void **state)
{
	(void)state;
	expect("GET", "/healthz", api_health, NULL);
	expect("GET", "/v1/info", api_info, NULL);
	expect("GET", "/v1/sandboxes", api_sandbox_list, NULL);
	expect("POST", "/v1/sandboxes", api_sandbox_create, NULL);
	expect("GET", "/v1/templates", api_template_list, NULL);
	expect("POST", "/v1/templates", api_template_bake, NULL);
}

/* And a signed file URL's GET and PUT, which check their signature
 * instead of a key (file_sign.c): no other method on that path. */
static void test_only_healthz_openapi_and_signed_files_are_public(void **state)
{
	(void)state;
	for (size_t i = 0; i < api_route_count; i++) {
		const struct api_route *rt = &api_routes[i];
		bool signed_file = strcmp(rt->pattern, "/v1/sandboxes/{}/files/signed") == 0 &&
				   ((strcmp(rt->method, "GET") == 0 &&
				     rt->handler == api_file_signed_read) ||
				    (strcmp(rt->method, "PUT") == 0 &&
				     rt->handler == api_file_signed_write));
		bool open = strcmp(rt->pattern, "/healthz") == 0 ||
			    strcmp(rt->pattern, "/openapi.json") == 0 ||
			    (strcmp(rt->pattern, "/console/**") == 0 &&
			     rt->handler == api_console) ||
			    signed_file;
		assert_int_equal(rt->public, open);
	}
}

static void test_placeholder_captures_the_id(void **state)
{
	(void)state;
	expect("GET", "/v1/sandboxes/sb-abcdefghijkm", api_sandbox_get, "sb-abcdefghijkm");
	expect("DELETE", "/v1/sandboxes/sb-x", api_sandbox_delete, "sb-x");
	expect("POST", "/v1/sandboxes/sb-y/exec", api_sandbox_exec, "sb-y");
	expect("GET", "/v1/templates/code-interpreter", api_template_get, "code-interpreter");
	expect("DELETE", "/v1/templates/mine", api_template_delete, "mine");
	expect("POST", "/v1/sandboxes/sb-z/fork", api_sandbox_fork, "sb-z");
	expect("POST", "/v1/sandboxes/sb-z/pause", api_sandbox_pause, "sb-z");
	/* The router does not validate ids; handlers do. */
	expect("GET", "/v1/sandboxes/..", api_sandbox_get, "..");
}

/* Every table entry is reachable by its own method and pattern. */
static void test_every_route_is_reachable(void **state)
{
	(void)state;
	for (size_t i = 0; i < api_route_count; i++) {
		char path[256] = "";
		const char *p = api_routes[i].pattern;
		const char *ph = strstr(p, "{}");
		if (ph)
			snprintf(path, sizeof(path), "%.*sID%s", (int)(ph - p), p, ph + 2);
		else
			snprintf(path, sizeof(path), "%s", p);
		struct match m = route(api_routes[i].method, path);
		assert_int_equal(m.rc, 1);
		assert_ptr_equal(m.route, &api_routes[i]);
		if (ph)
			assert_string_equal(m.params[0], "ID");
	}
}

static void test_unknown_paths_return_0(void **state)
{
	(void)state;
	expect_unknown("GET", "");
	expect_unknown("GET", "/");
	expect_unknown("GET", "/v1");
	expect_unknown("GET", "/v2/info");
	expect_unknown("GET", "/v1/sandbox");
	expect_unknown("GET", "/healthzz");
	expect_unknown("GET", "/v1/infox");
	expect_unknown("GET", "/V1/info");
	expect_unknown("GET", "healthz");
	expect_unknown("POST", "/v1/sandboxes/sb-x/run");
}

static void test_wrong_method_fills_allow(void **state)
{
	(void)state;
	expect_allow("PUT", "/v1/sandboxes", "GET, POST");
	expect_allow("DELETE", "/v1/templates", "GET, POST");
	expect_allow("PUT", "/v1/sandboxes/sb-x", "GET, DELETE, PATCH");
	expect_allow("GET", "/v1/sandboxes/sb-x/exec", "POST");
	expect_allow("POST", "/healthz", "GET");
	expect_allow("PUT", "/v1/templates/x", "GET, DELETE");
	expect_allow("GET", "/v1/sandboxes/sb-x/fork", "POST");
	/* Methods are case-sensitive. */
	expect_allow("get", "/v1/info", "GET");
}

static void test_allow_is_truncated_to_its_buffer(void **state)
{
	(void)state;
	const struct api_route *r = NULL;
	char params[API_MAX_PARAMS][128];
	const char *tail = NULL;
	/* Exact-size heap buffers: ASan sees any write past them. */
	char *allow = malloc(4);
	assert_non_null(allow);
	assert_int_equal(api_route_match(api_routes, api_route_count, "PUT", "/v1/sandboxes", &r, params, &tail, allow, 4), -1);
	assert_string_equal(allow, "GET");
	free(allow);
	allow = malloc(1);
	assert_non_null(allow);
	assert_int_equal(api_route_match(api_routes, api_route_count, "PUT", "/v1/sandboxes", &r, params, &tail, allow, 1), -1);
	assert_string_equal(allow, "");
	free(allow);
}

static void test_trailing_slashes_and_extra_segments_do_not_match(void **state)
{
	(void)state;
	expect_unknown("GET", "/healthz/");
	expect_unknown("GET", "/v1/info/");
	expect_unknown("GET", "/v1/sandboxes/");
	expect_unknown("GET", "/v1/sandboxes/sb-x/");
	expect_unknown("POST", "/v1/sandboxes/sb-x/exec/");
	expect_unknown("GET", "/v1/sandboxes/a/b");
	expect_unknown("POST", "/v1/sandboxes/a/exec/x");
	expect_unknown("GET", "//healthz");
	expect_unknown("GET", "/v1//sandboxes");
	expect_unknown("GET", "/v1/sandboxes//exec");
}

static void test_overlong_segment_does_not_match(void **state)
{
	(void)state;
	char path[512];
	char seg[200];
	memset(seg, 'a', sizeof(seg));
	/* 127 characters fit with their terminator. */
	snprintf(path, sizeof(path), "/v1/sandboxes/%.127s", seg);
	struct match m = route("GET", path);
	assert_int_equal(m.rc, 1);
	assert_int_equal(strlen(m.params[0]), 127);
	snprintf(path, sizeof(path), "/v1/sandboxes/%.128s", seg);
	expect_unknown("GET", path);
	snprintf(path, sizeof(path), "/v1/sandboxes/%.200s/exec", seg);
	expect_unknown("POST", path);
}

static void test_port_routes_take_the_rest_of_the_path(void **state)
{
	(void)state;
	struct match m = route("GET", "/v1/sandboxes/sb-aaaaaaaaaaaa/ports/8000/a/b?c");
	assert_int_equal(m.rc, 1);
	assert_ptr_equal(m.route->handler, api_sandbox_port);
	assert_string_equal(m.params[0], "sb-aaaaaaaaaaaa");
	assert_string_equal(m.params[1], "8000");
	assert_string_equal(m.tail, "/a/b?c");
	m = route("POST", "/v1/sandboxes/sb-aaaaaaaaaaaa/ports/8000");
	assert_int_equal(m.rc, 1);
	assert_string_equal(m.tail, "/");
	m = route("DELETE", "/v1/sandboxes/sb-aaaaaaaaaaaa/ports/8000/");
	assert_int_equal(m.rc, 1);
	assert_string_equal(m.tail, "/");
	/* No port, or a segment glued to the port, is not this route. */
	assert_int_equal(route("GET", "/v1/sandboxes/sb-aaaaaaaaaaaa/ports").rc, 0);
	assert_int_equal(route("GET", "/v1/sandboxes/sb-aaaaaaaaaaaa/ports/8000x").rc, 1);
	assert_int_equal(route("GET", "/v1/sandboxes/sb-aaaaaaaaaaaa/portsx/8000").rc, 0);
	/* Routes without "**" never set a tail. */
	m = route("GET", "/v1/sandboxes/sb-aaaaaaaaaaaa");
	assert_int_equal(m.rc, 1);
	assert_null(m.tail);
}

/* A route pattern and an OpenAPI path in one form: every placeholder
 * ("{}", "{id}", a final double star, "{path}") becomes "{}". */
static void normalize(const char *in, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = in; *p && o + 3 < size;) {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			assert_non_null(close);
			memcpy(out + o, "{}", 2);
			o += 2;
			p = close + 1;
		} else if (p[0] == '*' && p[1] == '*') {
			memcpy(out + o, "{}", 2);
			o += 2;
			p += 2;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
}

static void lower(const char *in, char *out, size_t size)
{
	size_t i = 0;
	for (; in[i] && i + 1 < size; i++)
		out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] + 32 : in[i]);
	out[i] = '\0';
}

/* Every route is documented with its method and its security, and the
 * document names no operation the server does not have. */
static void test_openapi_matches_the_routing_table(void **state)
{
	(void)state;
	json_error_t je;
	json_t *doc = json_loads(api_openapi_json, JSON_REJECT_DUPLICATES, &je);
	if (!doc)
		fail_msg("docs/openapi.json does not parse: %s (line %d)", je.text, je.line);
	assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
	json_t *paths = json_object_get(doc, "paths");
	size_t documented = 0, matched = 0;
	const char *path;
	json_t *ops;
	json_object_foreach(paths, path, ops) {
		char norm[256];
		normalize(path, norm, sizeof(norm));
		const char *method;
		json_t *op;
		json_object_foreach(ops, method, op) {
			documented++;
			bool found = false;
			for (size_t i = 0; i < api_route_count && !found; i++) {
				char rn[256], rm[16];
				normalize(api_routes[i].pattern, rn, sizeof(rn));
				lower(api_routes[i].method, rm, sizeof(rm));
				if (strcmp(rn, norm) || strcmp(rm, method))
					continue;
				found = true;
				json_t *sec = json_object_get(op, "security");
				bool open = json_is_array(sec) && json_array_size(sec) == 0;
				if (open != api_routes[i].public)
					fail_msg("%s %s: public %d in the server, %d in the document",
						 method, path, api_routes[i].public, open);
				if (!json_object_get(op, "responses") ||
				    !json_is_string(json_object_get(op, "operationId")))
					fail_msg("%s %s lacks responses or an operationId", method,
						 path);
			}
			if (!found)
				fail_msg("the document has %s %s; the server does not", method, path);
			matched++;
		}
	}
	for (size_t i = 0; i < api_route_count; i++) {
		char rn[256], rm[16];
		normalize(api_routes[i].pattern, rn, sizeof(rn));
		lower(api_routes[i].method, rm, sizeof(rm));
		bool found = false;
		json_object_foreach(paths, path, ops) {
			char norm[256];
			normalize(path, norm, sizeof(norm));
			if (strcmp(norm, rn) == 0 && json_object_get(ops, rm))
				found = true;
		}
		if (!found)
			fail_msg("%s %s is not in docs/openapi.json", api_routes[i].method,
				 api_routes[i].pattern);
	}
	assert_int_equal(documented, api_route_count);
	assert_int_equal(matched, documented);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openapi_matches_the_routing_table),
		cmocka_unit_test(test_port_routes_take_the_rest_of_the_path),
		cmocka_unit_test(test_exact_paths_match),
		cmocka_unit_test(test_only_healthz_openapi_and_signed_files_are_public),
		cmocka_unit_test(test_placeholder_captures_the_id),
		cmocka_unit_test(test_every_route_is_reachable),
		cmocka_unit_test(test_unknown_paths_return_0),
		cmocka_unit_test(test_wrong_method_fills_allow),
		cmocka_unit_test(test_allow_is_truncated_to_its_buffer),
		cmocka_unit_test(test_trailing_slashes_and_extra_segments_do_not_match),
		cmocka_unit_test(test_overlong_segment_does_not_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
