/* Unit tests of pyprobe: the probe's output parser (tables), the version
 * comparison, the supported-range check, and the probe run against real
 * interpreters and failing commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pyprobe.h"
#include "util.h"

static const struct parse_case {
	const char	*name;
	const char	*in;
	int		 rc;
	const char	*python, *distributed, *dask_cuda, *bokeh, *notebook;
	const char	*errsub;
} parse_cases[] = {
	{ "the venv", "python=3.11.2\ndistributed=2026.7.1\n"
	    "dask_cuda=26.10.00\nbokeh=3.9.2\nnotebook=7.6.5\n", 0, "3.11.2",
	    "2026.7.1", "26.10.00", "3.9.2", "7.6.5", NULL },
	{ "Debian's", "python=3.11.2\ndistributed=2022.12.1+ds.1\n"
	    "dask_cuda=\nbokeh=\n", 0, "3.11.2", "2022.12.1+ds.1", "", "", NULL,
	    NULL },
	{ "no distributed", "python=3.12.1\ndistributed=\n", 0, "3.12.1", "",
	    "", "", NULL, NULL },
	{ "unknown keys skipped, blank lines, no final newline",
	    "\nnumpy=2.0\npython=3.13.0\n\ndistributed=2026.8.0.dev3+g12ab",
	    0, "3.13.0", "2026.8.0.dev3+g12ab", "", "", NULL, NULL },
	{ "a key given twice: the last", "python=3.9.0\npython=3.11.1\n", 0,
	    "3.11.1", "", "", "", NULL, NULL },
	{ "empty", "", -1, NULL, NULL, NULL, NULL, NULL, "no python version" },
	{ "python empty", "python=\ndistributed=2026.7.1\n", -1, NULL, NULL,
	    NULL, NULL, NULL, "no python version" },
	{ "a line without =", "python=3.11.2\nTraceback (most recent call "
	    "last):\n", -1, NULL, NULL, NULL, NULL, NULL, "line 2: no '='" },
	{ "control byte", "python=3.11.2\ndistributed=2026\x1b[31m\n", -1,
	    NULL, NULL, NULL, NULL, NULL, "unexpected byte 0x1b" },
	{ "blank in a version", "python=3.11 2\n", -1, NULL, NULL, NULL,
	    NULL, NULL, "unexpected byte 0x20" },
	{ "a version of 32 bytes", "python=3.11.2\ndistributed="
	    "12345678901234567890123456789012\n", -1, NULL, NULL, NULL, NULL,
	    NULL,
	    "longer than 31 bytes" },
	{ "a version of 31 bytes", "python=3\nbokeh="
	    "1234567890123456789012345678901\n", 0, "3", "", "",
	    "1234567890123456789012345678901", NULL, NULL },
	{ "NUL byte", "python=3.11\0.2\n", -1, NULL, NULL, NULL, NULL, NULL,
	    "unexpected byte 0x00" },
};

static void
test_parse_table(void **state)
{
	struct pyprobe p;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];
		size_t len = strlen(c->in);
		int rc;

		/* the NUL case: measure past the embedded NUL */
		if (strcmp(c->name, "NUL byte") == 0)
			len = sizeof("python=3.11\0.2\n") - 1;
		err[0] = '\0';
		rc = pyprobe_parse(c->in, len, &p, err, sizeof(err));
		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d (%s)", c->name, rc, c->rc,
			    err);
		if (rc == 0) {
			assert_string_equal(p.python, c->python);
			assert_string_equal(p.distributed, c->distributed);
			assert_string_equal(p.dask_cuda, c->dask_cuda);
			assert_string_equal(p.bokeh, c->bokeh);
			assert_string_equal(p.notebook, c->notebook != NULL ?
			    c->notebook : "");
		} else if (strstr(err, c->errsub) == NULL) {
			fail_msg("%s: error \"%s\" lacks \"%s\"", c->name, err,
			    c->errsub);
		}
	}
}

static void
test_parse_too_long(void **state)
{
	char *buf = xmalloc(PYPROBE_REPLY_MAX + 2);
	struct pyprobe p;
	char err[256];

	(void)state;
	memset(buf, 'x', PYPROBE_REPLY_MAX + 1);
	memcpy(buf, "python=3\n", 9);
	assert_int_equal(pyprobe_parse(buf, PYPROBE_REPLY_MAX + 1, &p, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "more than"));
	free(buf);
}

static const struct cmp_case {
	const char	*a, *b;
	int		 want;	/* sign */
} cmp_cases[] = {
	{ "2026.7.1", "2026.7.1", 0 },
	{ "2026.7.1", "2022.12.1", 1 },
	{ "2022.12.1", "2026.7.1", -1 },
	{ "2022.12.1+ds.1", "2022.12.1", 0 },
	{ "2022.12.0", "2022.12.1", -1 },
	{ "2026.7", "2026.7.0", 0 },
	{ "2026.7", "2026.7.1", -1 },
	{ "2026.10.0", "2026.9.9", 1 },
	{ "2026.8.0.dev3", "2026.7.1", 1 },
	{ "2026.7.1rc1", "2026.7.1", 0 },
	{ "", "2022.12.1", -1 },
	{ "", "", 0 },
	{ "x", "0", 0 },
	{ "99999999999999999999.1", "2026.1", 1 },
};

static int
sign(int v)
{
	return v < 0 ? -1 : v > 0 ? 1 : 0;
}

static void
test_version_cmp(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cmp_cases); i++) {
		const struct cmp_case *c = &cmp_cases[i];

		if (sign(pyprobe_version_cmp(c->a, c->b)) != c->want)
			fail_msg("cmp(%s, %s) = %d, want %d", c->a, c->b,
			    pyprobe_version_cmp(c->a, c->b), c->want);
	}
}

static void
check(const char *dist, int want, const char *sub)
{
	struct pyprobe p;
	char err[512];

	memset(&p, 0, sizeof(p));
	strcpy(p.python, "3.11.2");
	strcpy(p.distributed, dist);
	assert_int_equal(pyprobe_check(&p, "/x/python", err, sizeof(err)),
	    want);
	if (sub == NULL)
		assert_string_equal(err, "");
	else if (strstr(err, sub) == NULL)
		fail_msg("%s: \"%s\" lacks \"%s\"", dist, err, sub);
}

static void
test_check_range(void **state)
{
	(void)state;
	check(PYPROBE_DASK_OLDEST, 0, NULL);
	check("2022.12.1+ds.1", 0, NULL);
	check(PYPROBE_DASK_NEWEST, 0, NULL);
	check("2024.8.0", 0, NULL);
	check("2022.11.0", -1, "distributed 2022.11.0, older than the oldest "
	    "edask supports (" PYPROBE_DASK_OLDEST);
	check("", -1, "has no Dask distributed installed");
	check("2099.1.0", 1, "distributed 2099.1.0 is newer than the newest "
	    "edask is tested with (" PYPROBE_DASK_NEWEST "): running it");
}

/* A folder for the probe's output file. */
static char *
tmpdir(void)
{
	char *d = xstrdup("/tmp/test_pyprobe.XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static void
write_script(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

static void
test_run_real_python(void **state)
{
	char *d = tmpdir(), err[512];
	struct pyprobe p;

	(void)state;
	/* Debian's interpreter: some Dask or none, a python version always */
	assert_int_equal(pyprobe_run("/usr/bin/python3", NULL, d, &p, err,
	    sizeof(err)), 0);
	assert_true(p.python[0] == '3');
	assert_int_equal(rmdir(d), 0);	/* nothing left behind */
	free(d);
}

static void
test_run_failures(void **state)
{
	char *d = tmpdir(), err[512], path[512];
	char *env[] = { "PROBE_SAYS=python=3.1.4", NULL };
	struct pyprobe p;

	(void)state;
	assert_int_equal(pyprobe_run("/nonexistent/python", NULL, d, &p, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/python"));

	snprintf(path, sizeof(path), "%s/exits", d);
	write_script(path, "#!/bin/sh\necho 'ImportError: no site' >&2\n"
	    "exit 3\n");
	assert_int_equal(pyprobe_run(path, NULL, d, &p, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "exited with status 3"));
	assert_non_null(strstr(err, "ImportError: no site"));

	snprintf(path, sizeof(path), "%s/garbage", d);
	write_script(path, "#!/bin/sh\necho hello\n");
	assert_int_equal(pyprobe_run(path, NULL, d, &p, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "no '='"));

	/* the extra environment reaches it */
	snprintf(path, sizeof(path), "%s/env", d);
	write_script(path, "#!/bin/sh\necho \"$PROBE_SAYS\"\n");
	assert_int_equal(pyprobe_run(path, env, d, &p, err, sizeof(err)), 0);
	assert_string_equal(p.python, "3.1.4");
	assert_string_equal(p.distributed, "");

	unlink(path);
	snprintf(path, sizeof(path), "%s/exits", d);
	unlink(path);
	snprintf(path, sizeof(path), "%s/garbage", d);
	unlink(path);
	assert_int_equal(rmdir(d), 0);
	free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_too_long),
		cmocka_unit_test(test_version_cmp),
		cmocka_unit_test(test_check_range),
		cmocka_unit_test(test_run_real_python),
		cmocka_unit_test(test_run_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
