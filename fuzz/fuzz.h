/*
 * fuzz.h: what the libFuzzer targets (fuzz/fuzz_<parser>.c, one per
 * parser) share.  Static inline, so that a target takes only what it uses.
 */
#ifndef EDASK_FUZZ_H
#define EDASK_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The YAML parsers' promise for a rejected input named "fuzz.yaml": the
 * message says where, as "fuzz.yaml:LINE:COL: ", on one line.
 */
static inline void
fuzz_check_where(const char *err)
{
	const char *p = err + strlen("fuzz.yaml:");

	ASSERT(strncmp(err, "fuzz.yaml:", strlen("fuzz.yaml:")) == 0);
	ASSERT(*p >= '1' && *p <= '9');
	p += strspn(p, "0123456789");
	ASSERT(*p++ == ':');
	ASSERT(*p >= '1' && *p <= '9');
	p += strspn(p, "0123456789");
	ASSERT(strncmp(p, ": ", 2) == 0);
	ASSERT(strchr(err, '\n') == NULL);
}

/*
 * For targets whose first input byte picks the parser: false for an empty
 * input; else the rest into buf[len], and err[errlen] filled with 'x' (NUL
 * at its end), so that a parser that should set it and does not shows.
 */
static inline bool
fuzz_split(const uint8_t *data, size_t size, const char **buf, size_t *len,
    char *err, size_t errlen)
{
	if (size == 0)
		return false;
	*buf = (const char *)data + 1;
	*len = size - 1;
	memset(err, 'x', errlen);
	err[errlen - 1] = '\0';
	return true;
}

/*
 * The round trip every accepted document of a YAML parser must survive:
 * <mod>_to_json(), dumped with json_dumps flags, parses back (JSON being
 * YAML) to an equal one.  FUZZ_ROUNDTRIP(spec) defines
 * fuzz_roundtrip_spec(const struct spec *, size_t flags) from spec.h's
 * spec_to_json, spec_parse, spec_equal and spec_free (the module's
 * header, which brings jansson, comes first).
 */
#define FUZZ_ROUNDTRIP(mod)						\
static void								\
fuzz_roundtrip_##mod(const struct mod *x, size_t flags)		\
{									\
	struct mod *t;							\
	char err[1024], *text;						\
	json_t *j;							\
									\
	j = mod##_to_json(x);						\
	ASSERT(j != NULL);						\
	text = json_dumps(j, flags);					\
	ASSERT(text != NULL);						\
	if (mod##_parse(text, strlen(text), "rt.json", &t, err,		\
	    sizeof(err)) == -1) {					\
		fprintf(stderr, "round trip failed: %s\n%s\n", err,	\
		    text);						\
		abort();						\
	}								\
	if (!mod##_equal(x, t)) {					\
		fprintf(stderr, "round trip differs:\n%s\n", text);	\
		abort();						\
	}								\
	mod##_free(t);							\
	free(text);							\
	json_decref(j);							\
}

#endif
