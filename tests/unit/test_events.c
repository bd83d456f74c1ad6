/* Unit tests of the event log: ring retention, paging, filters, restore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "events.h"
#include "util.h"

/* The seqs of an events_to_json() document, as "3,4,5". */
static void
seqs(json_t *doc, char *buf, size_t len)
{
	json_t *arr = json_object_get(doc, "events"), *e;
	size_t i;

	buf[0] = '\0';
	json_array_foreach(arr, i, e)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%lld",
		    i > 0 ? "," : "",
		    (long long)json_integer_value(json_object_get(e, "seq")));
	json_decref(doc);
}

static struct events *
filled(size_t cap, int n)
{
	struct events *e = events_new(cap);
	int i;

	log_set_level(LOG_LEVEL_WARN);
	for (i = 1; i <= n; i++)
		events_add(e, i % 2 ? "a" : "b", "k", "event %d", i);
	return e;
}

static void
test_paging_and_latest(void **state)
{
	static const struct {
		const char *inst;
		uint64_t since;
		size_t limit;
		const char *want;
	} cases[] = {
		{ NULL, 0, 100, "1,2,3,4,5,6,7,8" },	/* all */
		{ NULL, 0, 3, "6,7,8" },		/* newest 3 */
		{ NULL, 4, 2, "5,6" },			/* forward page */
		{ NULL, 6, 100, "7,8" },
		{ NULL, 8, 100, "" },			/* nothing newer */
		{ NULL, 99, 100, "" },
		{ "a", 0, 100, "1,3,5,7" },
		{ "a", 0, 2, "5,7" },
		{ "b", 3, 1, "4" },
		{ "c", 0, 100, "" },
	};
	struct events *e = filled(16, 8);
	char buf[256];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		seqs(events_to_json(e, cases[i].inst, cases[i].since,
		    cases[i].limit), buf, sizeof(buf));
		if (strcmp(buf, cases[i].want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, buf,
			    cases[i].want);
	}
	assert_int_equal(events_last_seq(e), 8);
	events_free(e);
}

static void
test_ring_keeps_the_newest(void **state)
{
	struct events *e = filled(4, 10);
	char buf[256];

	(void)state;
	seqs(events_to_json(e, NULL, 0, 100), buf, sizeof(buf));
	assert_string_equal(buf, "7,8,9,10");
	seqs(events_to_json(e, NULL, 2, 100), buf, sizeof(buf));
	assert_string_equal(buf, "7,8,9,10");	/* older ones are gone */
	seqs(events_to_json(e, NULL, 8, 1), buf, sizeof(buf));
	assert_string_equal(buf, "9");
	events_free(e);
}

static int sunk;

static void
sink(const struct event *ev, void *arg)
{
	(void)arg;
	sunk = (int)ev->seq;
}

static void
test_restore_continues_numbering(void **state)
{
	struct event saved[3];
	struct events *e = events_new(8);
	char buf[256];
	int i;

	(void)state;
	memset(saved, 0, sizeof(saved));
	for (i = 0; i < 3; i++) {
		saved[i].seq = (uint64_t)(40 + i);
		saved[i].ts_ms = 1000 + i;
		snprintf(saved[i].instance, sizeof(saved[i].instance), "a");
		snprintf(saved[i].kind, sizeof(saved[i].kind), "k");
	}
	events_restore(e, saved, 3);
	events_set_sink(e, sink, NULL);
	events_add(e, "a", "k", "after");
	assert_int_equal(sunk, 43);
	seqs(events_to_json(e, NULL, 0, 100), buf, sizeof(buf));
	assert_string_equal(buf, "40,41,42,43");
	seqs(events_to_json(e, NULL, 41, 100), buf, sizeof(buf));
	assert_string_equal(buf, "42,43");
	events_free(e);
	events_free(NULL);
}

/* Outside text quoted in a message, not UTF-8 or cut mid-character,
 * still gives a valid JSON event. */
static void
test_message_made_valid_utf8(void **state)
{
	struct events *e = events_new(4);
	char big[EVENT_MSG_MAX + 8];
	json_t *doc;
	const char *msg;

	(void)state;
	log_set_level(LOG_LEVEL_WARN);
	events_add(e, "a", "k", "sbatch: %s", "bad \xff\xfe byte, "
	    "\xe2\x9c\x93 ok, cut \xe2\x9c");
	memset(big, 'x', sizeof(big));
	memcpy(big + EVENT_MSG_MAX - 3, "\xe2\x9c\x93\xe2\x9c\x93", 6);
	big[sizeof(big) - 1] = '\0';
	events_add(e, "a", "k", "%s", big);
	doc = events_to_json(e, NULL, 0, 10);
	assert_non_null(doc);
	msg = json_string_value(json_object_get(json_array_get(
	    json_object_get(doc, "events"), 0), "message"));
	assert_string_equal(msg, "sbatch: bad ?? byte, \xe2\x9c\x93 ok, cut ??");
	msg = json_string_value(json_object_get(json_array_get(
	    json_object_get(doc, "events"), 1), "message"));
	assert_non_null(msg);
	assert_int_equal(strlen(msg), EVENT_MSG_MAX - 1);
	json_decref(doc);
	events_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paging_and_latest),
		cmocka_unit_test(test_ring_keeps_the_newest),
		cmocka_unit_test(test_restore_continues_numbering),
		cmocka_unit_test(test_message_made_valid_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
