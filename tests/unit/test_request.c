/* Unit tests of request validation: scale bodies, query integers, auth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "request.h"

static const struct {
	const char	*body;
	int		 rc;
	int		 has_min, min, has_max, max;
	const char	*err;		/* substring */
} scale_cases[] = {
	{ "{\"min\": 1, \"max\": 4}", 0, 1, 1, 1, 4, NULL },
	{ "{\"max\": 2}", 0, 0, 0, 1, 2, NULL },
	{ "{\"min\": 0}", 0, 1, 0, 0, 0, NULL },
	{ "{}", -1, 0, 0, 0, 0, "give min, max or both" },
	{ "", -1, 0, 0, 0, 0, "expected a JSON body" },
	{ "[1]", -1, 0, 0, 0, 0, "expected a JSON object" },
	{ "{\"min\": 1", -1, 0, 0, 0, 0, "invalid JSON at line 1" },
	{ "{\"min\": \"1\"}", -1, 0, 0, 0, 0, "min must be an integer" },
	{ "{\"min\": 1.5}", -1, 0, 0, 0, 0, "min must be an integer" },
	{ "{\"min\": -1}", -1, 0, 0, 0, 0, "min must be from 0 to 1024" },
	{ "{\"max\": 99999}", -1, 0, 0, 0, 0, "max must be from 0 to 1024" },
	{ "{\"max\": 0}", -1, 0, 0, 0, 0, "max must be at least 1" },
	{ "{\"min\": 5, \"max\": 2}", -1, 0, 0, 0, 0,
	    "min (5) is greater than max (2)" },
	{ "{\"mn\": 1}", -1, 0, 0, 0, 0, "unknown key \"mn\"" },
	{ "{\"min\": 1, \"min\": 2}", -1, 0, 0, 0, 0, "duplicate" },
	{ "{\"max\": null}", -1, 0, 0, 0, 0, "max must be an integer" },
};

static void
test_scale_bodies(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(scale_cases) / sizeof(scale_cases[0]); i++) {
		struct request_scale sc;
		char err[256] = "";
		int rc = request_parse_scale(scale_cases[i].body,
		    strlen(scale_cases[i].body), &sc, err, sizeof(err));

		if (rc != scale_cases[i].rc)
			fail_msg("case %zu (%s): rc %d (%s)", i,
			    scale_cases[i].body, rc, err);
		if (rc == 0) {
			assert_int_equal(sc.has_min, scale_cases[i].has_min);
			assert_int_equal(sc.has_max, scale_cases[i].has_max);
			if (sc.has_min)
				assert_int_equal(sc.min, scale_cases[i].min);
			if (sc.has_max)
				assert_int_equal(sc.max, scale_cases[i].max);
		} else if (strstr(err, scale_cases[i].err) == NULL) {
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err,
			    scale_cases[i].err);
		}
	}
}

static void
test_query_uint(void **state)
{
	static const struct {
		const char *v;
		int rc;
		uint64_t out;
	} cases[] = {
		{ NULL, 0, 7 }, { "", 0, 7 }, { "0", 0, 0 }, { "42", 0, 42 },
		{ "100", 0, 100 }, { "101", -1, 0 }, { "-1", -1, 0 },
		{ "+1", -1, 0 }, { " 1", -1, 0 }, { "1x", -1, 0 },
		{ "99999999999999999999999", -1, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t out = 12345;
		int rc = request_query_uint(cases[i].v, 7, 100, &out);

		assert_int_equal(rc, cases[i].rc);
		if (rc == 0)
			assert_int_equal(out, cases[i].out);
	}
}

static void
test_auth(void **state)
{
	(void)state;
	assert_true(request_auth_ok("Bearer abc123", "abc123"));
	assert_false(request_auth_ok("Bearer abc124", "abc123"));
	assert_false(request_auth_ok("Bearer abc1234", "abc123"));
	assert_false(request_auth_ok("Bearer abc12", "abc123"));
	/* the scheme is case-insensitive; spaces after it any number */
	assert_true(request_auth_ok("bearer abc123", "abc123"));
	assert_true(request_auth_ok("BEARER   abc123", "abc123"));
	assert_false(request_auth_ok("Bearerabc123", "abc123"));
	assert_false(request_auth_ok("Basic abc123", "abc123"));
	assert_false(request_auth_ok("Bearer  abc12", "abc123"));
	assert_false(request_auth_ok("abc123", "abc123"));
	assert_false(request_auth_ok(NULL, "abc123"));
	assert_false(request_auth_ok("Bearer ", ""));
}

static void
test_host(void **state)
{
	static const struct {
		const char	*host;
		bool		 ok;
	} rows[] = {
		{ NULL, true },			/* HTTP/1.0: no header */
		{ "127.0.0.1:8780", true },
		{ "127.0.0.1", true },
		{ "10.1.2.3:80", true },		/* any IP literal */
		{ "[::1]:8780", true },
		{ "[::1]", true },
		{ "localhost:8780", true },
		{ "LocalHost", true },
		{ "localhost.", true },
		{ "app.localhost:1", true },
		{ "gpu01:8780", true },		/* this machine's name */
		{ "GPU01", true },
		{ "edask.example.org:443", true },	/* the listen host */
		{ "evil.example.com:8780", false },	/* DNS rebinding */
		{ "gpu01.evil.example.com", false },
		{ "localhost.evil.com", false },
		{ "xlocalhost", false },
		{ "", false },
		{ ":8780", false },
		{ "127.0.0.1:", false },
		{ "127.0.0.1:80x", false },
		{ "127.0.0.1:1234567", false },
		{ "[::1", false },
		{ "[::1]x", false },
		{ "a b", false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool got = request_host_allowed(rows[i].host,
		    "edask.example.org", "gpu01");

		if (got != rows[i].ok)
			fail_msg("host \"%s\": got %d, want %d",
			    rows[i].host ? rows[i].host : "(null)", got,
			    rows[i].ok);
	}
	assert_false(request_host_allowed("gpu01", NULL, NULL));
	assert_true(request_host_allowed("127.0.0.1", NULL, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scale_bodies),
		cmocka_unit_test(test_query_uint),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
