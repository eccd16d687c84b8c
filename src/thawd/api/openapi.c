/* GET /openapi.json: docs/openapi.json, built into thawd so that the
 * document served is the one this binary was built with. The unit test
 * test_routes checks it against the routing table both ways. */
#include "api/api.h"

/* The assembler copies the file in at build time; the Makefile makes this
 * object depend on it. A NUL follows so that it is also a C string. */
__asm__(".section .rodata\n"
	".global api_openapi_json\n"
	".type api_openapi_json, @object\n"
	".balign 16\n"
	"api_openapi_json:\n"
	".incbin \"docs/openapi.json\"\n"
	".byte 0\n"
	".global api_openapi_json_end\n"
	"api_openapi_json_end:\n"
	".previous\n");

enum MHD_Result api_openapi(struct api_req *r)
{
	size_t len = (size_t)(api_openapi_json_end - api_openapi_json) - 1;
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		len, (void *)(uintptr_t)api_openapi_json, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return api_queue(r, MHD_HTTP_OK, resp);
}
