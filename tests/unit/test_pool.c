/*
 * test_pool: the allocation table (one cmocka test per row) and the slot
 * bookkeeping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pool.h"
#include "util.h"

#define MAXC	4

/* A claim: holder is its index; held, demand, max, owned, share. */
#define C(h, d, m, o, s)	{ .held = (h), .demand = (d), .max = (m), \
				  .owned = (o), .share = (s) }

struct row {
	const char	*name;
	int		 nslots;
	size_t		 n;
	struct pool_claim c[MAXC];
	int		 grant[MAXC];
};

static const struct row rows[] = {
	{ "single: demand", 8, 1, { C(0, 3, 8, 0, 1) }, { 3 } },
	{ "single: capped by max", 8, 1, { C(0, 10, 4, 0, 1) }, { 4 } },
	{ "single: capped by nslots", 8, 1, { C(0, 10, 16, 0, 1) }, { 8 } },
	{ "single: no demand", 8, 1, { C(0, 0, 8, 0, 1) }, { 0 } },
	{ "equal shares split evenly", 8, 2,
	    { C(0, 8, 8, 0, 1), C(0, 8, 8, 0, 1) }, { 4, 4 } },
	{ "odd slot goes to the lower index", 7, 2,
	    { C(0, 8, 8, 0, 1), C(0, 8, 8, 0, 1) }, { 4, 3 } },
	{ "weights 3:1", 8, 2,
	    { C(0, 8, 8, 0, 3), C(0, 8, 8, 0, 1) }, { 6, 2 } },
	{ "weights 1:3", 8, 2,
	    { C(0, 8, 8, 0, 1), C(0, 8, 8, 0, 3) }, { 2, 6 } },
	{ "weights 1:2:2", 10, 3,
	    { C(0, 10, 10, 0, 1), C(0, 10, 10, 0, 2), C(0, 10, 10, 0, 2) },
	    { 2, 4, 4 } },
	{ "owned first, share splits the rest", 8, 2,
	    { C(0, 8, 8, 4, 1), C(0, 8, 8, 0, 1) }, { 6, 2 } },
	{ "owned on top of an equal share", 10, 2,
	    { C(0, 10, 10, 0, 1), C(0, 10, 10, 6, 1) }, { 2, 8 } },
	{ "owned needs demand", 8, 2,
	    { C(0, 8, 8, 0, 1), C(0, 0, 8, 4, 1) }, { 8, 0 } },
	{ "owned above demand guarantees only demand", 8, 2,
	    { C(0, 8, 8, 0, 1), C(0, 2, 8, 6, 1) }, { 6, 2 } },
	{ "owned oversubscribed", 6, 2,
	    { C(0, 8, 8, 6, 1), C(0, 8, 8, 6, 1) }, { 3, 3 } },
	{ "demand below fair share leaves the rest", 8, 2,
	    { C(0, 2, 8, 0, 1), C(0, 8, 8, 0, 1) }, { 2, 6 } },
	{ "max caps, the other takes the rest", 8, 2,
	    { C(0, 8, 2, 0, 1), C(0, 8, 8, 0, 1) }, { 2, 6 } },
	{ "both capped: slots stay free", 8, 2,
	    { C(0, 8, 2, 0, 1), C(0, 8, 3, 0, 1) }, { 2, 3 } },
	{ "held slots are not taken away", 8, 2,
	    { C(6, 8, 8, 0, 1), C(0, 8, 8, 0, 1) }, { 6, 2 } },
	{ "held slots not taken even for owned", 8, 2,
	    { C(8, 8, 8, 0, 1), C(0, 4, 8, 4, 1) }, { 8, 0 } },
	{ "held counts in the fair split", 8, 2,
	    { C(1, 8, 8, 0, 1), C(1, 8, 8, 0, 1) }, { 4, 4 } },
	{ "demand below held: may release", 8, 2,
	    { C(5, 2, 8, 0, 1), C(0, 8, 8, 0, 1) }, { 2, 6 } },
	{ "max below held: may release", 8, 2,
	    { C(5, 8, 3, 0, 1), C(0, 8, 8, 0, 1) }, { 3, 5 } },
	{ "holdings above nslots: kept, none added", 4, 2,
	    { C(3, 3, 8, 0, 1), C(3, 8, 8, 0, 1) }, { 3, 3 } },
	{ "zero slots", 0, 2,
	    { C(0, 8, 8, 2, 1), C(0, 8, 8, 0, 1) }, { 0, 0 } },
	{ "share below 1 reads as 1", 8, 2,
	    { C(0, 8, 8, 0, 0), C(0, 8, 8, 0, 1) }, { 4, 4 } },
	{ "negative inputs read as 0", 8, 2,
	    { C(-1, -3, 8, -2, 1), C(0, 8, -1, 0, 1) }, { 0, 0 } },
};

static void
test_row(void **state)
{
	const struct row *r = *state;
	int grant[MAXC];
	int sum = 0, held = 0;
	size_t i;

	memset(grant, 0x55, sizeof(grant));
	pool_allocate(r->nslots, r->c, r->n, grant);
	for (i = 0; i < r->n; i++) {
		assert_int_equal(grant[i], r->grant[i]);
		sum += grant[i];
		held += r->c[i].held > 0 ? r->c[i].held : 0;
	}
	/* Sum of grants within nslots whenever the holdings fit. */
	if (held <= r->nslots)
		assert_true(sum <= r->nslots);
}

static void
test_allocate_none(void **state)
{
	(void)state;
	pool_allocate(8, NULL, 0, NULL);
}

static void
test_slots(void **state)
{
	struct pool *p;

	(void)state;
	p = pool_new("local", POOL_SIMULATED, 3, NULL);
	assert_string_equal(pool_name(p), "local");
	assert_int_equal(pool_kind(p), POOL_SIMULATED);
	assert_int_equal(pool_size(p), 3);
	assert_int_equal(pool_free_count(p), 3);
	assert_int_equal(pool_slot_gpu(p, 2), 2);

	assert_int_equal(pool_acquire(p, 7), 0);
	assert_int_equal(pool_acquire(p, 8), 1);
	assert_int_equal(pool_slot_holder(p, 0), 7);
	assert_int_equal(pool_slot_holder(p, 2), POOL_FREE);
	assert_int_equal(pool_held_by(p, 7), 1);
	assert_int_equal(pool_free_count(p), 1);

	pool_release(p, 0);
	assert_int_equal(pool_slot_holder(p, 0), POOL_FREE);
	assert_int_equal(pool_acquire(p, 8), 0);	/* lowest free */
	assert_int_equal(pool_held_by(p, 8), 2);
	assert_int_equal(pool_acquire(p, 9), 2);
	assert_int_equal(pool_acquire(p, 9), -1);	/* full */
	assert_int_equal(pool_free_count(p), 0);
	pool_release(p, 1);
	pool_release(p, 1);				/* already free */
	assert_int_equal(pool_free_count(p), 1);
	pool_free(p);
	pool_free(NULL);
}

static void
test_take(void **state)
{
	struct pool *p;

	(void)state;
	p = pool_new("gpus", POOL_GPU, 2, (const int[]){ 3, 1 });
	assert_int_equal(pool_slot_gpu(p, 0), 3);
	assert_int_equal(pool_slot_gpu(p, 1), 1);
	assert_int_equal(pool_take(p, 1, 4), 0);
	assert_int_equal(pool_take(p, 1, 4), 0);	/* again: same holder */
	assert_int_equal(pool_take(p, 1, 5), -1);	/* someone else's */
	assert_int_equal(pool_take(p, 2, 5), -1);	/* no such slot */
	assert_int_equal(pool_take(p, -1, 5), -1);
	assert_int_equal(pool_slot_holder(p, 1), 4);
	assert_int_equal(pool_acquire(p, 5), 0);
	assert_int_equal(pool_held_by(p, 4), 1);
	pool_free(p);
}

static void
test_cpu_and_names(void **state)
{
	struct pool *p;

	(void)state;
	p = pool_new("cpu", POOL_CPU, 4, NULL);
	assert_int_equal(pool_slot_gpu(p, 3), -1);
	pool_free(p);
	p = pool_new("empty", POOL_GPU, 0, NULL);
	assert_int_equal(pool_size(p), 0);
	assert_int_equal(pool_free_count(p), 0);
	assert_int_equal(pool_acquire(p, 1), -1);
	pool_free(p);
	assert_string_equal(pool_kind_name(POOL_CPU), "cpu");
	assert_string_equal(pool_kind_name(POOL_GPU), "gpu");
	assert_string_equal(pool_kind_name(POOL_SIMULATED), "simulated");
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_allocate_none),
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_take),
		cmocka_unit_test(test_cpu_and_names),
	};
	struct CMUnitTest tests[ARRAY_LEN(rows) + ARRAY_LEN(fixed)];
	size_t i;

	for (i = 0; i < ARRAY_LEN(rows); i++) {
		memset(&tests[i], 0, sizeof(tests[i]));
		tests[i].name = rows[i].name;
		tests[i].test_func = test_row;
		tests[i].initial_state = (void *)(uintptr_t)&rows[i];
	}
	for (i = 0; i < ARRAY_LEN(fixed); i++)
		tests[ARRAY_LEN(rows) + i] = fixed[i];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
