/*
 * fuzz_spec: libFuzzer target for spec_parse().
 *
 * Beyond "no crash, no leak", every accepted spec must survive the trip
 * the daemon puts it through: spec_dup() equals it, and spec_to_json()
 * dumped as JSON parses back (JSON being YAML) to an equal spec.  A
 * rejected one must say where, as "file:line:col: ".  The input is also
 * fed to the duration and size parsers as a C string.
 */
#include "fuzz.h"
#include "spec.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

FUZZ_ROUNDTRIP(spec)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spec *s, *d;
	char err[1024], *str;
	int64_t v;

	str = xmalloc(size + 1);
	memcpy(str, data, size);
	str[size] = '\0';
	if (spec_parse_duration(str, &v) == 0)
		ASSERT(v >= 0);
	if (spec_parse_size(str, &v) == 0)
		ASSERT(v >= 0);
	(void)spec_name_valid(str);
	free(str);

	if (spec_parse((const char *)data, size, "fuzz.yaml", &s, err,
	    sizeof(err)) == -1) {
		fuzz_check_where(err);
		return 0;
	}
	ASSERT(s != NULL && spec_name_valid(s->name));
	d = spec_dup(s);
	ASSERT(spec_equal(s, d));
	spec_free(d);
	fuzz_roundtrip_spec(s, 0);
	fuzz_roundtrip_spec(s, JSON_COMPACT);
	fuzz_roundtrip_spec(s, JSON_INDENT(2));
	spec_free(s);
	return 0;
}
