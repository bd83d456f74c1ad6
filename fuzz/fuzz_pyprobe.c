/*
 * fuzz_pyprobe: libFuzzer target for pyprobe_parse (the output of the
 * Python probe, src/pyprobe.c) and pyprobe_version_cmp.  Besides crashes,
 * it aborts when a parse that succeeds breaks the contract: every version
 * terminated, of version bytes only, python non-empty; and when the
 * comparison is not antisymmetric.  Seeds: fuzz/corpus/pyprobe/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pyprobe.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_version(const char *v)
{
	size_t i, n;

	ASSERT(memchr(v, '\0', PYPROBE_VERSION_MAX) != NULL);
	n = strlen(v);
	for (i = 0; i < n; i++)
		ASSERT(strchr("0123456789abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ.+_-", v[i]) != NULL);
}

static int
sign(int v)
{
	return v < 0 ? -1 : v > 0 ? 1 : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pyprobe p;
	char err[256];

	err[0] = '\0';
	if (pyprobe_parse((const char *)data, size, &p, err,
	    sizeof(err)) == 0) {
		check_version(p.python);
		check_version(p.distributed);
		check_version(p.dask_cuda);
		check_version(p.bokeh);
		check_version(p.notebook);
		ASSERT(p.python[0] != '\0');
		ASSERT(sign(pyprobe_version_cmp(p.distributed, p.bokeh)) ==
		    -sign(pyprobe_version_cmp(p.bokeh, p.distributed)));
		ASSERT(pyprobe_version_cmp(p.python, p.python) == 0);
	} else {
		ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
		ASSERT(err[0] != '\0');
	}
	return 0;
}
