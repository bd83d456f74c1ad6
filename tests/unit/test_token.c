/* Unit tests of token: made once (random, 0600, whole), read back the
 * same, refused when others may read it. */
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

#include "token.h"
#include "testutil.h"
#include "util.h"

static void
test_made_then_read(void **state)
{
	char base[64];
	char a[TOKEN_LEN + 1], b[TOKEN_LEN + 1], other[TOKEN_LEN + 1];
	char err[512], path[300], tmp[310];
	struct stat st;

	(void)state;
	tu_mkdtemp(base, sizeof(base), "edask-token");
	snprintf(path, sizeof(path), "%s/token", base);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(token_read(base, a, sizeof(a), err, sizeof(err)),
	    -1);
	assert_int_equal(token_load_or_create(base, a, sizeof(a), err,
	    sizeof(err)), 0);
	assert_int_equal(strlen(a), TOKEN_LEN);
	assert_int_equal(strspn(a, "0123456789abcdef"), TOKEN_LEN);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, TOKEN_LEN + 1);	/* and a newline */
	assert_int_equal(access(tmp, F_OK), -1);
	/* the daemon's next start and the CLI read the same */
	assert_int_equal(token_load_or_create(base, b, sizeof(b), err,
	    sizeof(err)), 0);
	assert_string_equal(a, b);
	assert_int_equal(token_read(base, b, sizeof(b), err, sizeof(err)), 0);
	assert_string_equal(a, b);
	/* others could read it: the daemon refuses */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(token_load_or_create(base, b, sizeof(b), err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "mode 0644"));
	assert_int_equal(unlink(path), 0);
	/* a new one is another */
	assert_int_equal(token_load_or_create(base, other, sizeof(other), err,
	    sizeof(err)), 0);
	assert_string_not_equal(a, other);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(base), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_made_then_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
