/*
 * test_gpu: src/gpu.c through its real dlopen() path.
 *
 * ld.so reads LD_LIBRARY_PATH once, at start-up, so the test cannot point
 * dlopen at the NVML double itself: scripts/run-unit.sh runs every unit test
 * with LD_LIBRARY_PATH and EDASK_TEST_FAKENVML_DIR set to the folder of
 * tests/fakenvml's libnvidia-ml.so.1.  The double logs each call to
 * FAKE_NVML_LOG; a first gpu_open() in the group set-up tells from that log
 * whether the double was loaded.  When it was not (the binary run by hand),
 * the tests that need it are skipped, unless EDASK_TEST_FAKENVML_DIR says
 * it should have been: then the set-up fails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu.h"
#include "util.h"

static struct {
	char	dir[256];
	char	gpus[300];	/* FAKE_NVML_FILE */
	char	log[300];	/* FAKE_NVML_LOG */
	bool	fake;		/* the double is what dlopen finds */
} t;

#define SKIP_UNLESS_FAKE()						\
	do {								\
		if (!t.fake)						\
			skip();						\
	} while (0)

/* Replaces FAKE_NVML_FILE atomically, as the double's header asks. */
static void
write_gpus(const char *text)
{
	char tmp[320];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", t.gpus);
	f = fopen(tmp, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, t.gpus), 0);
}

/* How many times fn was called since the log was last truncated. */
static int
log_count(const char *fn)
{
	char line[256];
	FILE *f;
	int n = 0;

	if ((f = fopen(t.log, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, fn) == 0)
			n++;
	}
	fclose(f);
	return n;
}

static void
log_reset(void)
{
	FILE *f = fopen(t.log, "w");

	if (f != NULL)
		fclose(f);
}

static int group_teardown(void **);

static int
group_setup(void **state)
{
	const char *tmpdir = getenv("TMPDIR");
	const char *want = getenv("EDASK_TEST_FAKENVML_DIR");
	char err[256];

	(void)state;
	snprintf(t.dir, sizeof(t.dir), "%s/edask-test-gpu.XXXXXX",
	    tmpdir != NULL && *tmpdir != '\0' ? tmpdir : "/tmp");
	if (mkdtemp(t.dir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(t.gpus, sizeof(t.gpus), "%s/gpus", t.dir);
	snprintf(t.log, sizeof(t.log), "%s/log", t.dir);
	setenv("FAKE_NVML_LOG", t.log, 1);
	setenv("FAKE_NVML_FILE", t.gpus, 1);
	unsetenv("FAKE_NVML_FAIL");
	write_gpus("probe 0 0 1\n");

	if (gpu_open(err, sizeof(err)) >= 0)
		gpu_close();
	t.fake = log_count("nvmlInit_v2") == 1;
	if (!t.fake && want != NULL && *want != '\0') {
		fprintf(stderr, "test_gpu: EDASK_TEST_FAKENVML_DIR=%s but the "
		    "NVML double was not loaded (is LD_LIBRARY_PATH set and "
		    "%s/libnvidia-ml.so.1 built?)\n", want, want);
		group_teardown(state);
		return -1;
	}
	if (!t.fake)
		fprintf(stderr, "test_gpu: NVML double not on "
		    "LD_LIBRARY_PATH; skipping the tests that need it\n");
	return 0;
}

static int
group_teardown(void **state)
{
	char p[320];

	(void)state;
	gpu_close();
	unlink(t.gpus);
	unlink(t.log);
	snprintf(p, sizeof(p), "%s.tmp", t.gpus);
	unlink(p);
	rmdir(t.dir);
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	setenv("FAKE_NVML_FILE", t.gpus, 1);
	unsetenv("FAKE_NVML_FAIL");
	write_gpus("# two fake GPUs\n"
	    "NVIDIA H100 80GB HBM3 37 1073741824 85899345920\n"
	    "\n"
	    "  Fake_T4\t0 0 16106127360\n");
	log_reset();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	gpu_close();
	unsetenv("FAKE_NVML_FAIL");
	return 0;
}

/* (a) No fake GPU file, or no library at all: -1 and a reason. */
static void
test_open_without_file(void **state)
{
	char err[256] = "";
	struct gpu_info gi;
	int r;

	(void)state;
	unsetenv("FAKE_NVML_FILE");
	r = gpu_open(err, sizeof(err));
	if (t.fake) {
		assert_int_equal(r, -1);
		assert_non_null(strstr(err, "nvmlInit_v2"));
		/* Init failed: nothing to shut down, nothing leaked. */
		assert_int_equal(log_count("nvmlShutdown"), 0);
	} else if (r == -1) {
		/* No library (or a real one without a driver). */
		assert_true(err[0] != '\0');
	} else {
		/* A real NVML on this host: only check consistency. */
		assert_int_equal(gpu_count(), r);
		gpu_close();
	}
	assert_int_equal(gpu_count(), 0);
	err[0] = '\0';
	assert_int_equal(gpu_query(0, &gi, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not open"));
	assert_int_equal(gi.util, -1);
	gpu_close();
	gpu_close();
	assert_int_equal(gpu_count(), 0);
}

static void
test_open_errors(void **state)
{
	static const struct {
		const char	*file;		/* NULL: keep the good one */
		const char	*contents;	/* NULL: don't write */
		const char	*fail;		/* FAKE_NVML_FAIL */
		const char	*want;		/* in err */
		int		 shutdowns;	/* nvmlShutdown calls */
	} tc[] = {
		{ "/nonexistent/gpus", NULL, NULL, "nvmlInit_v2", 0 },
		{ NULL, "only three fields\n", NULL, "nvmlInit_v2", 0 },
		{ NULL, "A 10 x 100\n", NULL, "nvmlInit_v2", 0 },
		{ NULL, "A -5 1 100\n", NULL, "nvmlInit_v2", 0 },
		{ NULL, NULL, "nvmlInit_v2", "Unknown Error", 0 },
		{ NULL, NULL, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount_v2",
		    1 },
		{ NULL, NULL, "x,nvmlDeviceGetCount_v2,y",
		    "nvmlDeviceGetCount_v2", 1 },
	};
	char err[256];
	size_t i;

	(void)state;
	SKIP_UNLESS_FAKE();
	for (i = 0; i < ARRAY_LEN(tc); i++) {
		setup(NULL);
		if (tc[i].file != NULL)
			setenv("FAKE_NVML_FILE", tc[i].file, 1);
		if (tc[i].contents != NULL)
			write_gpus(tc[i].contents);
		if (tc[i].fail != NULL)
			setenv("FAKE_NVML_FAIL", tc[i].fail, 1);
		err[0] = '\0';
		assert_int_equal(gpu_open(err, sizeof(err)), -1);
		if (strstr(err, tc[i].want) == NULL)
			fail_msg("case %zu: err \"%s\" lacks \"%s\"", i, err,
			    tc[i].want);
		assert_int_equal(gpu_count(), 0);
		assert_int_equal(log_count("nvmlShutdown"), tc[i].shutdowns);
		teardown(NULL);
	}
}

/* (b) Two GPUs through the real dlopen path. */
static void
test_two_gpus(void **state)
{
	struct gpu_info gi;
	char err[256];

	(void)state;
	SKIP_UNLESS_FAKE();
	assert_int_equal(gpu_open(err, sizeof(err)), 2);
	assert_int_equal(gpu_count(), 2);
	assert_int_equal(log_count("nvmlInit_v2"), 1);

	assert_int_equal(gpu_query(0, &gi, err, sizeof(err)), 0);
	assert_int_equal(gi.index, 0);
	assert_string_equal(gi.name, "NVIDIA H100 80GB HBM3");
	assert_string_equal(gi.uuid, "GPU-fake-0000");
	assert_int_equal(gi.util, 37);
	assert_true(gi.mem_used == INT64_C(1073741824));
	assert_true(gi.mem_total == INT64_C(85899345920));

	assert_int_equal(gpu_query(1, &gi, err, sizeof(err)), 0);
	assert_int_equal(gi.index, 1);
	assert_string_equal(gi.name, "Fake_T4");
	assert_string_equal(gi.uuid, "GPU-fake-0001");
	assert_int_equal(gi.util, 0);
	assert_true(gi.mem_used == 0);
	assert_true(gi.mem_total == INT64_C(16106127360));
}

/* The double re-reads its file: a running daemon sees new values. */
static void
test_util_changes(void **state)
{
	struct gpu_info gi;
	char err[256];

	(void)state;
	SKIP_UNLESS_FAKE();
	assert_int_equal(gpu_open(err, sizeof(err)), 2);
	write_gpus("NVIDIA H100 80GB HBM3 90 2147483648 85899345920\n"
	    "Fake_T4 100 0 16106127360\n");
	assert_int_equal(gpu_query(0, &gi, err, sizeof(err)), 0);
	assert_int_equal(gi.util, 90);
	assert_true(gi.mem_used == INT64_C(2147483648));
	assert_int_equal(gpu_query(1, &gi, err, sizeof(err)), 0);
	assert_int_equal(gi.util, 100);
	write_gpus("NVIDIA H100 80GB HBM3 5 0 85899345920\n"
	    "Fake_T4 0 0 16106127360\n");
	assert_int_equal(gpu_query(0, &gi, err, sizeof(err)), 0);
	assert_int_equal(gi.util, 5);
	assert_int_equal(log_count("nvmlInit_v2"), 1);
}

static void
test_close_reopen(void **state)
{
	struct gpu_info gi;
	char err[256];

	(void)state;
	SKIP_UNLESS_FAKE();
	assert_int_equal(gpu_open(err, sizeof(err)), 2);
	gpu_close();
	assert_int_equal(gpu_count(), 0);
	assert_int_equal(gpu_query(0, &gi, err, sizeof(err)), -1);
	assert_int_equal(log_count("nvmlShutdown"), 1);
	gpu_close();
	assert_int_equal(log_count("nvmlShutdown"), 1);

	assert_int_equal(gpu_open(err, sizeof(err)), 2);
	assert_int_equal(gpu_query(1, &gi, err, sizeof(err)), 0);
	assert_string_equal(gi.name, "Fake_T4");

	/* Opening while open starts over and sees the new device count. */
	write_gpus("A 1 1 10\nB 2 2 20\nC 3 3 30\n");
	assert_int_equal(gpu_open(err, sizeof(err)), 3);
	assert_int_equal(log_count("nvmlInit_v2"), 3);
	assert_int_equal(log_count("nvmlShutdown"), 2);
	assert_int_equal(gpu_query(2, &gi, err, sizeof(err)), 0);
	assert_string_equal(gi.name, "C");
	assert_string_equal(gi.uuid, "GPU-fake-0002");
	gpu_close();
	assert_int_equal(log_count("nvmlShutdown"), 3);
}

static void
test_zero_gpus(void **state)
{
	struct gpu_info gi;
	char err[256];

	(void)state;
	SKIP_UNLESS_FAKE();
	write_gpus("# no GPU on this host\n\n");
	assert_int_equal(gpu_open(err, sizeof(err)), 0);
	assert_int_equal(gpu_count(), 0);
	assert_int_equal(gpu_query(0, &gi, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "out of range"));
}

static void
test_bad_index(void **state)
{
	static const int idx[] = { -1, 2, 3, INT_MAX, INT_MIN };
	struct gpu_info gi;
	char err[256];
	size_t i;

	(void)state;
	SKIP_UNLESS_FAKE();
	assert_int_equal(gpu_open(err, sizeof(err)), 2);
	for (i = 0; i < ARRAY_LEN(idx); i++) {
		err[0] = '\0';
		assert_int_equal(gpu_query(idx[i], &gi, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "out of range"));
		assert_int_equal(gi.index, idx[i]);
		assert_int_equal(gi.util, -1);
	}
}

/* Unsupported or nonsensical fields read as unknown, not as errors. */
static void
test_fields_unknown(void **state)
{
	static const struct {
		const char	*name;
		int		 util;
		int64_t		 used, total;
	} want[] = {
		{ "no-util", -1, 1, 2 },
		{ "util-150", -1, -1, -1 },	/* and used > total */
		{ "no-mem", 50, -1, -1 },
		{ "huge-mem", 7, -1, -1 },	/* total > INT64_MAX */
	};
	struct gpu_info gi;
	char err[256];
	size_t i;

	(void)state;
	SKIP_UNLESS_FAKE();
	write_gpus("no-util - 1 2\n"
	    "util-150 150 10 5\n"
	    "no-mem 50 - -\n"
	    "huge-mem 7 1 18446744073709551615\n");
	assert_int_equal(gpu_open(err, sizeof(err)), 4);
	for (i = 0; i < ARRAY_LEN(want); i++) {
		assert_int_equal(gpu_query((int)i, &gi, err, sizeof(err)), 0);
		assert_string_equal(gi.name, want[i].name);
		assert_int_equal(gi.util, want[i].util);
		assert_true(gi.mem_used == want[i].used);
		assert_true(gi.mem_total == want[i].total);
	}
}

static void
test_query_failures(void **state)
{
	struct gpu_info gi;
	char err[256];

	(void)state;
	SKIP_UNLESS_FAKE();
	assert_int_equal(gpu_open(err, sizeof(err)), 2);

	setenv("FAKE_NVML_FAIL", "nvmlDeviceGetHandleByIndex_v2", 1);
	err[0] = '\0';
	assert_int_equal(gpu_query(0, &gi, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nvmlDeviceGetHandleByIndex_v2"));

	setenv("FAKE_NVML_FAIL", "nvmlDeviceGetName,nvmlDeviceGetUUID,"
	    "nvmlDeviceGetUtilizationRates,nvmlDeviceGetMemoryInfo", 1);
	assert_int_equal(gpu_query(1, &gi, err, sizeof(err)), 0);
	assert_string_equal(gi.name, "");
	assert_string_equal(gi.uuid, "");
	assert_int_equal(gi.util, -1);
	assert_true(gi.mem_used == -1 && gi.mem_total == -1);
	unsetenv("FAKE_NVML_FAIL");

	/* A GPU that went away since gpu_open(). */
	write_gpus("NVIDIA H100 80GB HBM3 37 1 2\n");
	err[0] = '\0';
	assert_int_equal(gpu_query(1, &gi, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Invalid Argument"));
	assert_int_equal(gpu_query(0, &gi, err, sizeof(err)), 0);

	/* A file that turned unreadable. */
	write_gpus("garbage\n");
	assert_int_equal(gpu_query(0, &gi, err, sizeof(err)), -1);
}

/* Names are forced to printable ASCII and always terminated. */
static void
test_name_sanitized(void **state)
{
	char text[256], name[96], err[256];
	struct gpu_info gi;

	(void)state;
	SKIP_UNLESS_FAKE();
	/* 94 characters: the longest name a 96-byte buffer takes here. */
	memset(name, 'x', 94);
	name[94] = '\0';
	name[3] = '\x01';
	name[4] = '\xc3';
	snprintf(text, sizeof(text), "%s 1 1 2\n", name);
	write_gpus(text);
	assert_int_equal(gpu_open(err, sizeof(err)), 1);
	assert_int_equal(gpu_query(0, &gi, err, sizeof(err)), 0);
	name[3] = '?';
	name[4] = '?';
	assert_string_equal(gi.name, name);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_without_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_two_gpus, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_util_changes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close_reopen, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_zero_gpus, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_index, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fields_unknown, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_query_failures, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_name_sanitized, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
