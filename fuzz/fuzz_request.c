/* libFuzzer target: the REST API's request validation (request.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request_scale sc;
	char err[256], *s;
	uint64_t v;

	if (request_parse_scale((const char *)data, size, &sc, err,
	    sizeof(err)) == 0) {
		ASSERT(sc.has_min || sc.has_max);
		ASSERT(!sc.has_max || sc.max >= 1);
		ASSERT(!(sc.has_min && sc.has_max) || sc.min <= sc.max);
	} else {
		ASSERT(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
	}
	s = xstrndup((const char *)data, size);
	if (request_query_uint(s, 7, 1000000, &v) == 0)
		ASSERT(v <= 1000000);
	(void)request_auth_ok(s, "0123456789abcdef");
	(void)request_host_allowed(s, "edask.example.org", "gpu01");
	free(s);
	return 0;
}
