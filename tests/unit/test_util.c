/* Unit tests of util's helpers: the whole-file write, random hex, the
 * exit-status text, ISO 8601 time, the log line's stamp, the small-file
 * read and the string compare that takes NULL. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "util.h"

static char *
tmpdir(void)
{
	char base[64];

	tu_mkdtemp(base, sizeof(base), "edask-util");
	return xstrdup(base);
}

static unsigned
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return (unsigned)(st.st_mode & 07777);
}

/* The file's bytes, NUL-terminated; *len gets their count. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = xmalloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void
test_write_file(void **state)
{
	char *d = tmpdir(), *p = xasprintf("%s/f", d);
	char *tmp = xasprintf("%s/f.tmp", d), err[512], *got, *big;
	size_t len, i;
	mode_t old;

	(void)state;
	assert_int_equal(util_write_file(p, "abc\n", 4, 0600, err,
	    sizeof(err)), 0);
	got = slurp(p, &len);
	assert_string_equal(got, "abc\n");
	free(got);
	assert_int_equal(mode_of(p), 0600);
	assert_int_equal(access(tmp, F_OK), -1);	/* nothing left */

	/* replaced whole, the mode exactly as asked whatever the umask */
	old = umask(077);
	assert_int_equal(util_write_file(p, "x", 1, 0640, err, sizeof(err)),
	    0);
	umask(old);
	got = slurp(p, &len);
	assert_string_equal(got, "x");
	free(got);
	assert_int_equal(mode_of(p), 0640);

	/* more than one write() may take */
	big = xmalloc(4 << 20);
	for (i = 0; i < 4 << 20; i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(util_write_file(p, big, 4 << 20, 0600, err,
	    sizeof(err)), 0);
	got = slurp(p, &len);
	assert_int_equal(len, 4 << 20);
	assert_memory_equal(got, big, 4 << 20);
	free(got);
	free(big);

	/* a stale PATH.tmp link is not followed */
	assert_int_equal(symlink("/tmp/edask-util-elsewhere", tmp), 0);
	assert_int_equal(util_write_file(p, "y", 1, 0600, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, tmp));
	assert_int_equal(access("/tmp/edask-util-elsewhere", F_OK), -1);
	got = slurp(p, &len);
	assert_int_equal(len, 4 << 20);		/* the old file stands */
	free(got);
	assert_int_equal(unlink(tmp), 0);

	/* a folder where the file goes: the rename fails, no .tmp stays */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(util_write_file(p, "z", 1, 0600, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, "Is a directory"));
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(rmdir(p), 0);
	free(p);

	/* a missing folder */
	p = xasprintf("%s/no/f", d);
	assert_int_equal(util_write_file(p, "z", 1, 0600, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "No such file"));

	assert_int_equal(rmdir(d), 0);
	free(p);
	free(tmp);
	free(d);
}

static void
test_random_hex(void **state)
{
	static const size_t sizes[] = { 1, 16, 47, 64, 200 };
	char a[256], b[256], err[128];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(sizes); i++) {
		memset(a, 'Z', sizeof(a));
		assert_int_equal(util_random_hex(a, sizes[i] + 1, sizes[i], err,
		    sizeof(err)), 0);
		assert_int_equal(strlen(a), sizes[i]);
		assert_int_equal(strspn(a, "0123456789abcdef"), sizes[i]);
		assert_int_equal(a[sizes[i] + 1], 'Z');	/* not past it */
	}
	/* two draws differ (64 digits: a clash would be 2^-256) */
	assert_int_equal(util_random_hex(a, sizeof(a), 64, err, sizeof(err)),
	    0);
	assert_int_equal(util_random_hex(b, sizeof(b), 64, err, sizeof(err)),
	    0);
	assert_string_not_equal(a, b);
	/* every digit turns up in 200 of them */
	assert_int_equal(util_random_hex(a, sizeof(a), 200, err, sizeof(err)),
	    0);
	for (i = 0; i < 16; i++)
		assert_non_null(strchr(a, "0123456789abcdef"[i]));
}

static void
test_exit_text(void **state)
{
	static const struct {
		int		 status;
		const char	*want;
	} cases[] = {
		{ 0, "exited with status 0" },
		{ 3 << 8, "exited with status 3" },
		{ 255 << 8, "exited with status 255" },
		{ SIGKILL, "exited on signal 9 (Killed)" },
		{ SIGTERM, "exited on signal 15 (Terminated)" },
		{ SIGSEGV | 0x80,
		    "exited on signal 11 (Segmentation fault, core dumped)" },
		{ -1, "exited with unknown status" },
	};
	char buf[96];
	size_t i;
	pid_t pid;
	int st;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++)
		assert_string_equal(util_exit_text(cases[i].status, buf,
		    sizeof(buf)), cases[i].want);
	/* cut to fit, terminated */
	assert_string_equal(util_exit_text(3 << 8, buf, 7), "exited");

	/* and what waitpid() really gives */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		raise(SIGKILL);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_string_equal(util_exit_text(st, buf, sizeof(buf)),
	    "exited on signal 9 (Killed)");
}

static void
test_time_iso(void **state)
{
	static const struct {
		const char	*tz;
		int64_t		 ms;
		const char	*want;
	} cases[] = {
		{ "UTC0", 0, "1970-01-01T00:00:00.000+00:00" },
		{ "UTC0", 1796305501123, "2026-12-03T13:45:01.123+00:00" },
		/* Central Europe, winter and summer */
		{ "CET-1CEST,M3.5.0,M10.5.0/3", 1796305501123,
		    "2026-12-03T14:45:01.123+01:00" },
		{ "CET-1CEST,M3.5.0,M10.5.0/3", 1782907200007,
		    "2026-07-01T14:00:00.007+02:00" },
		/* west of Greenwich, and a zone of 45 minutes */
		{ "<-0330>3:30", 1796305501123, "2026-12-03T10:15:01.123-03:30" },
		{ "<+0545>-5:45", 1796305501999,
		    "2026-12-03T19:30:01.999+05:45" },
	};
	const char *old = getenv("TZ");
	char *saved = old != NULL ? xstrdup(old) : NULL;
	char buf[40];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		setenv("TZ", cases[i].tz, 1);
		tzset();
		assert_string_equal(util_time_iso(cases[i].ms, buf,
		    sizeof(buf)), cases[i].want);
	}
	if (saved != NULL)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
}

/* A log line starts with the date and time: read back from stderr. */
static void
test_log_stamp(void **state)
{
	char *d = tmpdir(), *p = xasprintf("%s/log", d), *got;
	size_t len;
	FILE *f;
	int saved;

	(void)state;
	setenv("TZ", "UTC0", 1);
	tzset();
	fflush(stderr);
	saved = dup(2);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(dup2(fileno(f), 2), 2);
	log_info("hello %d", 42);
	log_warnx("careful");
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	fclose(f);
	got = slurp(p, &len);
	/* 2026-12-03T13:45:01.123+00:00 hello 42 */
	assert_true(len > 30);
	assert_true(got[4] == '-' && got[7] == '-' && got[10] == 'T' &&
	    got[13] == ':' && got[16] == ':' && got[19] == '.');
	assert_memory_equal(got + 23, "+00:00 hello 42\n", 16);
	assert_non_null(strstr(got, "+00:00 warning: careful\n"));
	free(got);
	unsetenv("TZ");
	tzset();
	unlink(p);
	rmdir(d);
	free(p);
	free(d);
}

/* util_read_small: missing, empty, cut at size - 1, whole. */
static void
test_read_small(void **state)
{
	static const struct {
		const char	*text;		/* NULL: no file */
		ssize_t		 rc;
		const char	*got;
	} rows[] = {
		{ NULL, -1, NULL },
		{ "", 0, "" },
		{ "0123456789", 7, "0123456" },		/* cut at size - 1 */
		{ "42 7\n", 5, "42 7\n" },
	};
	char dir[64], path[96], buf[8];
	size_t i;

	(void)state;
	tu_mkdtemp(dir, sizeof(dir), "test_util_rs");
	snprintf(path, sizeof(path), "%s/f", dir);
	for (i = 0; i < ARRAY_LEN(rows); i++) {
		if (rows[i].text != NULL)
			tu_write_file(path, rows[i].text, strlen(rows[i].text));
		errno = 0;
		assert_int_equal(util_read_small(path, buf, sizeof(buf)),
		    rows[i].rc);
		if (rows[i].got != NULL)
			assert_string_equal(buf, rows[i].got);
		else
			assert_int_equal(errno, ENOENT);
	}
	unlink(path);
	rmdir(dir);
}

/* util_str_eq: NULL equals only NULL, and "" is a string like any other. */
static void
test_str_eq(void **state)
{
	static const struct {
		const char	*a, *b;
		bool		 eq;
	} rows[] = {
		{ NULL, NULL, true },
		{ NULL, "", false },
		{ "", NULL, false },
		{ "", "", true },
		{ "gpu", "gpu", true },
		{ "gpu", "gpus", false },
		{ "a", "b", false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(rows); i++)
		assert_int_equal(util_str_eq(rows[i].a, rows[i].b), rows[i].eq);
}

/* strindex: a table of lookups after the adds, the first of equal
 * strings kept, then seeded random strings against a linear search. */
static void
test_strindex(void **state)
{
	static const char *const adds[] = {
		"tcp://10.0.0.1:40001", "w-1", "", "tcp://10.0.0.1:40001",
		"w-2", "", "w-1", "tcp://10.0.0.2:40001",
	};
	static const struct {
		const char	*s;
		ssize_t		 want;
	} gets[] = {
		{ "tcp://10.0.0.1:40001", 0 },	/* the first of two */
		{ "w-1", 1 },
		{ "", 2 },
		{ "w-2", 4 },
		{ "tcp://10.0.0.2:40001", 7 },
		{ "tcp://10.0.0.3:40001", -1 },
		{ "w-", -1 },
		{ "w-10", -1 },
	};
	char pool[300][8];
	struct strindex *x;
	uint32_t seed = 12345;
	size_t i, j, n;
	ssize_t want;

	(void)state;
	x = strindex_new(ARRAY_LEN(adds));
	for (i = 0; i < ARRAY_LEN(adds); i++)
		strindex_add(x, adds[i], i);
	for (i = 0; i < ARRAY_LEN(gets); i++)
		assert_int_equal(strindex_get(x, gets[i].s), gets[i].want);
	strindex_free(x);
	strindex_free(NULL);
	x = strindex_new(0);
	assert_int_equal(strindex_get(x, ""), -1);
	strindex_free(x);

	/* short strings of 3 letters: many equal ones, many collisions */
	for (n = 1; n <= ARRAY_LEN(pool); n = n * 3 + 1) {
		for (i = 0; i < n; i++) {
			for (j = 0; j < 3; j++) {
				seed ^= seed << 13;
				seed ^= seed >> 17;
				seed ^= seed << 5;
				pool[i][j] = (char)('a' + seed % 7);
			}
			pool[i][seed % 4] = '\0';
		}
		x = strindex_new(n);
		for (i = 0; i < n; i++)
			strindex_add(x, pool[i], i);
		for (i = 0; i < n; i++) {
			for (j = 0, want = -1; j < n && want < 0; j++)
				if (strcmp(pool[j], pool[i]) == 0)
					want = (ssize_t)j;
			assert_int_equal(strindex_get(x, pool[i]), want);
		}
		assert_int_equal(strindex_get(x, "zzz"), -1);
		strindex_free(x);
	}
}


int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_file),
		cmocka_unit_test(test_random_hex),
		cmocka_unit_test(test_exit_text),
		cmocka_unit_test(test_time_iso),
		cmocka_unit_test(test_log_stamp),
		cmocka_unit_test(test_read_small),
		cmocka_unit_test(test_str_eq),
		cmocka_unit_test(test_strindex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
