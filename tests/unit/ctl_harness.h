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
#define CTL_WAIT_MS		15000	/* for anything processes must do */

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

/* Pumps l until cond holds, CTL_WAIT_MS at most; the caller asserts it. */
#define CTL_PUMP_UNTIL(l, cond) do {					\
	int64_t end_ = mono_ms() + CTL_WAIT_MS;				\
									\
	while (!(cond) && mono_ms() < end_)				\
		ctl_pump((l), 20);					\
} while (0)

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
 * or NULL; *n (may be NULL) how many there are, or, with `only` (not
 * NULL), how many say exactly that. */
static inline char *
ctl_event_find(struct ctl *c, const char *name, const char *kind,
    const char *only, size_t *n)
{
	json_t *o = events_to_json(c->events, name, 0, EVENTS_KEPT);
	json_t *a = json_object_get(o, "events");
	char *msg = NULL;
	size_t i, k = 0;

	for (i = 0; i < json_array_size(a); i++) {
		json_t *e = json_array_get(a, i);
		const char *m = json_string_value(json_object_get(e,
		    "message"));

		if (strcmp(json_string_value(json_object_get(e, "kind")),
		    kind) != 0)
			continue;
		k += only == NULL || strcmp(m, only) == 0;
		free(msg);
		msg = xstrdup(m);
	}
	json_decref(o);
	if (n != NULL)
		*n = k;
	return msg;
}

static inline char *
ctl_event_of(struct ctl *c, const char *name, const char *kind, size_t *n)
{
	return ctl_event_find(c, name, kind, NULL, n);
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

/* The last event of kind for instance name says part (the test fails
 * otherwise). */
static inline void
ctl_event_has(struct ctl *c, const char *name, const char *kind,
    const char *part)
{
	char *msg = ctl_event_must(c, name, kind);

	if (strstr(msg, part) == NULL)
		fail_msg("%s: %s\nwant a part: %s", kind, msg, part);
	free(msg);
}

static inline bool
ctl_has_event(struct ctl *c, const char *name, const char *kind)
{
	char *m = ctl_event_of(c, name, kind, NULL);
	bool has = m != NULL;

	free(m);
	return has;
}

/* What the controller's JSON says of worker wid's key in instance name,
 * as compact JSON (new string; "absent" when there is no such worker). */
static inline char *
ctl_worker_says(struct ctl *c, const char *name, int wid, const char *key)
{
	json_t *o = ctl_instance_json(c, name, false);
	json_t *a = json_object_get(o, "workers");
	char *s = NULL, id[16];
	size_t i;

	snprintf(id, sizeof(id), "w%d", wid);
	for (i = 0; i < json_array_size(a) && s == NULL; i++) {
		json_t *w = json_array_get(a, i);
		const char *wi = json_string_value(json_object_get(w, "id"));

		if (wi != NULL && strcmp(wi, id) == 0)
			s = json_dumps(json_object_get(w, key),
			    JSON_COMPACT | JSON_ENCODE_ANY);
	}
	json_decref(o);
	return s != NULL ? s : xstrdup("absent");
}

static inline bool
ctl_worker_is(struct ctl *c, const char *name, int wid, const char *key,
    const char *want)
{
	char *s = ctl_worker_says(c, name, wid, key);
	bool eq = strcmp(s, want) == 0;

	free(s);
	return eq;
}

#endif
