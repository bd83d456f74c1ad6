/* Unit tests of an instance's TLS credentials (tls.c). */
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

#include "tls.h"
#include "util.h"

static unsigned
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (unsigned)(st.st_mode & 07777);
}

static void
rm_creds(const char *dir)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, TLS_CERT_FILE);
	unlink(p);
	snprintf(p, sizeof(p), "%s/%s", dir, TLS_KEY_FILE);
	unlink(p);
	rmdir(dir);
}

static void
test_made_private_and_valid(void **state)
{
	char base[] = "/tmp/edask-tls.XXXXXX";
	char dir[300], p[400], err[512];

	(void)state;
	assert_non_null(mkdtemp(base));
	snprintf(dir, sizeof(dir), "%s/tls", base);
	assert_int_equal(tls_make_creds(dir, "xgb", err, sizeof(err)), 0);
	assert_int_equal(mode_of(dir), 0700);
	snprintf(p, sizeof(p), "%s/%s", dir, TLS_KEY_FILE);
	assert_int_equal(mode_of(p), 0600);
	snprintf(p, sizeof(p), "%s/%s", dir, TLS_CERT_FILE);
	assert_int_equal(mode_of(p), 0600);
	assert_int_equal(tls_check_creds(dir, err, sizeof(err)), 0);
	/* made again: new ones, still a pair */
	assert_int_equal(tls_make_creds(dir, "xgb", err, sizeof(err)), 0);
	assert_int_equal(tls_check_creds(dir, err, sizeof(err)), 0);
	rm_creds(dir);
	rmdir(base);
}

/* A key from another instance's pair does not pass for this one's. */
static void
test_mismatched_pair_refused(void **state)
{
	char base[] = "/tmp/edask-tls.XXXXXX";
	char a[300], b[300], pa[400], pb[400], err[512];

	(void)state;
	assert_non_null(mkdtemp(base));
	snprintf(a, sizeof(a), "%s/a", base);
	snprintf(b, sizeof(b), "%s/b", base);
	assert_int_equal(tls_make_creds(a, "a", err, sizeof(err)), 0);
	assert_int_equal(tls_make_creds(b, "b", err, sizeof(err)), 0);
	snprintf(pa, sizeof(pa), "%s/%s", a, TLS_KEY_FILE);
	snprintf(pb, sizeof(pb), "%s/%s", b, TLS_KEY_FILE);
	assert_int_equal(rename(pb, pa), 0);
	assert_int_equal(tls_check_creds(a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "the key does not match"));
	/* b has no key now */
	assert_int_equal(tls_check_creds(b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, TLS_KEY_FILE));
	rm_creds(a);
	rm_creds(b);
	rmdir(base);
}

static void
test_unwritable_folder(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(tls_make_creds("/proc/edask-no/tls", "x", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/proc/edask-no"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_made_private_and_valid),
		cmocka_unit_test(test_mismatched_pair_refused),
		cmocka_unit_test(test_unwritable_folder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
