/* libFuzzer target: the console's path routing (console_route). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "spec.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[SPEC_NAME_MAX + 1];
	char *path = xstrndup((const char *)data, size);
	enum console_route r;

	memset(name, 'x', sizeof(name));
	r = console_route(path, name, sizeof(name));
	if (r == CONSOLE_INSTANCE) {
		ASSERT(memchr(name, '\0', sizeof(name)) != NULL);
		ASSERT(spec_name_valid(name));
		ASSERT(strstr(path, "..") == NULL);
	}
	if (r == CONSOLE_INDEX)
		ASSERT(strcmp(path, "/") == 0);
	free(path);
	return 0;
}
