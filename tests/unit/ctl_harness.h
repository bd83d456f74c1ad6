/*
 * What the tests that drive the real controller on the fakes of
 * tests/fake/fake_ctl.h share (test_ctl, test_backend_slurm): running the
 * loop while the fake scheduler answers, and a deploy that waits until
 * the instance is started.
 */
#ifndef EDASK_CTL_HARNESS_H
#define EDASK_CTL_HARNESS_H

#include <jansson.h>

#include "ctl_int.h"
#include "events.h"
#include "fake_ctl.h"
#include "loop.h"
#include "sched.h"
#include "store.h"
#include "testutil.h"

#define CTL_START_WAIT_MS	15000	/* a deploy's scheduler "answers" */

/* Runs the loop for ms, answering what the fake scheduler owes. */
static inline void
ctl_pump(struct loop *l, int64_t ms)
{
	int64_t end = mono_ms() + ms;

	while (mono_ms() < end) {
		tu_loop_run_for(l, 20);
		fake_answer(INT64_MAX);
	}
}

TU_DEFINE_PARSE_OK(spec_of, spec, spec_parse, "test.yaml")

/* Deploys yaml on c (a new instance) and runs l until the scheduler
 * "answers" and the instance is started; fails the test otherwise. */
static inline struct instance *
ctl_deploy_started(struct ctl *c, struct loop *l, const char *yaml)
{
	enum ctl_deployed what;
	struct spec *s = spec_of(yaml);
	char name[SPEC_NAME_MAX + 1], err[512];
	struct instance *in;
	int64_t end = mono_ms() + CTL_START_WAIT_MS;

	strlcpy_(name, s->name, sizeof(name));
	if (ctl_deploy(c, s, &what, err, sizeof(err)) != 0)
		fail_msg("deploy: %s", err);
	assert_int_equal(what, CTL_CREATED);
	in = ctl_find(c, name);
	assert_non_null(in);
	while (in->state != I_STARTED && mono_ms() < end)
		ctl_pump(l, 50);
	if (in->state != I_STARTED)
		fail_msg("instance %s: %s, %s (spawns %llu, owed %zu, "
		    "dask %p)", name, istate_name[in->state], in->error,
		    (unsigned long long)fake_counts.spawns, fake_owed(),
		    (void *)sched_client(in->sched));
	return in;
}

/* A test's end: the controller, its loop, the fakes' stand-in
 * schedulers and the state folder go. */
static inline void
ctl_world_end(struct ctl *c, struct loop *l, const char *dir)
{
	ctl_free(c);
	loop_free(l);
	fake_end();
	tu_rm_rf(dir);
}

/* How many workers of instance name c's store holds. */
static inline size_t
ctl_stored_workers(struct ctl *c, const char *name)
{
	struct store_worker *ws = NULL;
	size_t n = 0;
	char err[256];

	if (store_workers_load(c->store, name, &ws, &n, err,
	    sizeof(err)) != 0)
		fail_msg("store_workers_load: %s", err);
	store_workers_free(ws, n);
	return n;
}

/* The message of the last event of kind for instance name (new string),
 * or NULL; *n (may be NULL) how many there are. */
static inline char *
ctl_event_of(struct ctl *c, const char *name, const char *kind, size_t *n)
{
	json_t *o = events_to_json(c->events, name, 0, EVENTS_KEPT);
	json_t *a = json_object_get(o, "events");
	char *msg = NULL;
	size_t i, k = 0;

	for (i = 0; i < json_array_size(a); i++) {
		json_t *e = json_array_get(a, i);

		if (strcmp(json_string_value(json_object_get(e, "kind")),
		    kind) != 0)
			continue;
		k++;
		free(msg);
		msg = xstrdup(json_string_value(json_object_get(e,
		    "message")));
	}
	json_decref(o);
	if (n != NULL)
		*n = k;
	return msg;
}

/* The same, for an event there must be (the test fails otherwise). */
static inline char *
ctl_event_must(struct ctl *c, const char *name, const char *kind)
{
	char *msg = ctl_event_of(c, name, kind, NULL);

	if (msg == NULL)
		fail_msg("no %s event for %s", kind, name);
	return msg;
}

#endif
