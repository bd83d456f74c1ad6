/* reclaim.c: see ctl_int.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "dask.h"
#include "events.h"
#include "gpu.h"
#include "http.h"
#include "launch.h"
#include "loop.h"
#include "metrics.h"
#include "notebook.h"
#include "pool.h"
#include "pyprobe.h"
#include "scaler.h"
#include "sched.h"
#include "spec.h"
#include "store.h"
#include "tls.h"
#include "util.h"

#include "ctl_int.h"

static void on_drained(int rc, const struct dask_drain_info *di,
    const char *msg, void *arg);

/* ------------------------------------------------------------- sharing */

/*
 * The pool's view of each instance that takes part in the allocation
 * (started ones, and `me` whatever its state), at now.  held counts what
 * is attributable to it: the slots it holds, less those reserved for
 * someone else (being reclaimed away), plus those reserved for it (free,
 * or still held by the instance they are reclaimed from), which is what
 * the pool keeps as pool_claimed_by(): no slot is read.  locked counts
 * the workers it launched less than its scale_down_delay before now
 * (instance_locked(), a search, not a walk of its workers): a
 * share-based reclaim leaves those alone, so two busy instances do not
 * trade a GPU back and forth.  Only an instance with workers expiring
 * (a job's time limit) has its workers read.
 */
size_t
pool_claims(struct ctl *c, struct cpool *cp, struct instance *me,
    int64_t now, struct pool_claim *claims, struct instance **who)
{
	size_t i, k, m = 0;

	for (i = 0; i < c->ninst; i++) {
		struct instance *o = c->inst[i];

		if ((o->state != I_STARTED && o != me) || o->cp != cp)
			continue;
		memset(&claims[m], 0, sizeof(claims[m]));
		claims[m].holder = o->id;
		claims[m].held = pool_claimed_by(cp->pool, o->id);
		who[m++] = o;
	}
	for (i = 0; i < m; i++) {
		struct instance *o = who[i];
		struct pool_claim *cl = &claims[i];

		/* a worker retired before its job's time limit is on its
		 * way out: its replacement may come while it moves its data */
		for (k = 0; o->expiring > 0 && k < o->nworkers; k++) {
			struct worker *w = o->workers[k];

			if (w->expires_wall_ms > 0 && (w->state == W_DRAINING ||
			    w->state == W_RETIRING) && w->slot >= 0 &&
			    pool_slot_reserved(cp->pool, w->slot) == POOL_FREE &&
			    cl->held > 0)
				cl->held--;
		}
		/* until its first decision (a restarted daemon), an instance
		 * wants at least what it runs: else the first tick of
		 * another could reclaim everything from it */
		cl->demand = o->desired;
		if (!o->decided) {
			int have = (int)(instance_count(o, W_LAUNCHING) +
			    instance_count(o, W_RUNNING));

			if (cl->demand < have)
				cl->demand = have;
		}
		cl->max = o->max;
		cl->owned = o->spec->sharing.owned;
		cl->share = o->spec->sharing.share;
		cl->locked = instance_locked(o, now);
	}
	return m;
}


/* Slots this instance may take at now, as the pool's allocation says:
 * what the allocation adds, plus the free slots already reserved for
 * it. */
int
instance_free_slots(struct instance *in, int64_t now)
{
	struct ctl *c = in->ctl;
	struct pool_claim *claims = xcalloc(c->ninst, sizeof(*claims));
	struct instance **who = xcalloc(c->ninst, sizeof(*who));
	int *grant = xcalloc(c->ninst, sizeof(*grant));
	int mine = 0;
	size_t i, n;

	n = pool_claims(c, in->cp, in, now, claims, who);
	pool_allocate(pool_size(in->cp->pool), claims, n, grant);
	for (i = 0; i < n; i++)
		if (who[i] == in)
			mine = grant[i] - claims[i].held;
	if (mine < 0)
		mine = 0;
	mine += pool_waiting_for(in->cp->pool, in->id);
	if (mine > pool_available(in->cp->pool, in->id))
		mine = pool_available(in->cp->pool, in->id);
	free(claims);
	free(who);
	free(grant);
	return mine;
}



/* Asks the scheduler to drain w (again: the answer says how far it is). */
static void
worker_drain_poll(struct worker *w)
{
	struct instance *in = w->inst;

	if (w->drain_busy || sched_client(in->sched) == NULL)
		return;
	w->drain_busy = true;
	in->ctl->engine->drain(sched_client(in->sched), w->address, true,
	    OBSERVE_TIMEOUT_MS, on_drained, w);
}


static void
on_drained(int rc, const struct dask_drain_info *di, const char *msg,
    void *arg)
{
	struct worker *w = arg;
	struct instance *in = w->inst;
	int64_t left;

	w->drain_busy = false;
	if (w->state != W_DRAINING)
		return;
	if (rc == -1) {
		log_warnx("[%s] drain w%d: %s; asking again at the next tick",
		    in->spec->name, w->id, msg);
		return;
	} else if (rc == -2) {
		/* an older scheduler without the preload: no drain, so the
		 * retirement may restart its running tasks elsewhere */
		ev(in, "held", "worker w%d (%s) cannot be drained (%s): "
		    "retiring it as it is", w->id, w->name, msg);
		w->drain.processing = w->busy;
	} else if (rc == 0 || di->gone) {
		char head[200];

		if (rc == 1)		/* what it held as it was removed */
			worker_departed(w, di->keys, di->unique_keys,
			    di->bytes);
		snprintf(head, sizeof(head), "worker w%d (%s) left the "
		    "scheduler while draining: stopping it; ", w->id, w->name);
		worker_loss(w, head, "");
		worker_terminate(w, 0);
		return;
	} else {
		w->drain = *di;
		if (di->processing > 0 || mono_ms() < w->retire_retry_ms)
			return;		/* asked again at the next tick */
	}
	left = (w->expires_wall_ms > 0 ? w->expires_wall_ms :
	    w->reclaim_deadline_wall_ms) - wall_ms();
	worker_retire(w, left > 1000 ? left : 1000);
}


static void
on_undrained(int rc, const struct dask_drain_info *di, const char *msg,
    void *arg)
{
	struct worker *w = arg;

	(void)di;
	w->drain_busy = false;
	if (rc == -1)
		log_warnx("[%s] undrain w%d: %s", w->inst->spec->name, w->id,
		    msg);
}


/*
 * The grace is over and the worker still holds its slot: it is stopped.
 * What it still ran is restarted elsewhere, and results only it held are
 * lost (Dask recomputes them if they are needed again).
 */
static int64_t
on_reclaim_deadline(void *arg)
{
	struct worker *w = arg;
	struct instance *in = w->inst;

	w->reclaim_timer = 0;
	if (w->state != W_DRAINING && w->state != W_RETIRING)
		return LOOP_NOMORE;
	in->forced_reclaims++;
	ev(in, "forced_reclaim", "worker w%d (%s) on slot %d, reclaimed for "
	    "%s, still busy after the %llds grace: stopped; %d task(s) "
	    "restarted elsewhere, %d key(s) lost (held only there)", w->id,
	    w->name, w->slot, reclaim_name(w),
	    (long long)(ctl_by_id(in->ctl, w->reclaim_for) != NULL ?
	    ctl_by_id(in->ctl, w->reclaim_for)->spec->sharing.reclaim_grace_ms
	    / 1000 : 0), w->drain.processing, w->drain.unique_keys);
	in->ctl->reclaim_restarted += (uint64_t)w->drain.processing;
	in->ctl->reclaim_lost_keys += (uint64_t)w->drain.unique_keys;
	/* SIGKILL at once: a Dask worker that gets SIGTERM in the middle of
	 * a task can take the whole KILL_GRACE_MS to go, and the grace the
	 * recipient allowed is over */
	worker_kill(w);
	return LOOP_NOMORE;
}


void
arm_reclaim_deadline(struct worker *w)
{
	int64_t left = w->reclaim_deadline_wall_ms - wall_ms();

	loop_timer_clear(w->inst->ctl->loop, &w->reclaim_timer);
	w->reclaim_timer = loop_timer_add(w->inst->ctl->loop,
	    left > 0 ? left : 0, on_reclaim_deadline, w);
}


/*
 * Gives w's slot to instance `to`: the slot is reserved for it at once, so
 * that nobody else (w's own instance included) takes it once w is gone.  A
 * launching worker is simply stopped; a running one is drained (no new
 * tasks), then retired through the scheduler, which moves its data to the
 * instance's other workers first; after to's reclaim_grace it is stopped.
 */
static void
worker_reclaim(struct worker *w, struct instance *to, enum pool_why why)
{
	struct instance *in = w->inst;
	char bytes[32];

	pool_reserve(in->cp->pool, w->slot, to->id);
	w->reclaim_for = to->id;
	worker_index(w);
	w->reclaim_deadline_wall_ms = wall_ms() +
	    to->spec->sharing.reclaim_grace_ms;
	in->reclaims++;
	ev(to, "reclaim", "taking slot %d back from %s (%s)", w->slot,
	    in->spec->name, why == POOL_WHY_OWNED ? "owned: below its owned "
	    "slots" : "share: below its fair share");
	if (w->state == W_LAUNCHING) {
		ev(in, "reclaim", "worker w%d (%s) on slot %d goes to %s (%s): "
		    "still launching, stopped", w->id, w->name, w->slot,
		    to->spec->name, why == POOL_WHY_OWNED ? "owned" : "share");
		worker_terminate(w, 0);
		return;
	}
	ev(in, "reclaim", "worker w%d (%s) on slot %d goes to %s (%s): %s, "
	    "%s in %d keys; draining, grace %llds", w->id, w->name, w->slot,
	    to->spec->name, why == POOL_WHY_OWNED ? "owned" : "share",
	    w->busy > 0 ? "busy" : "idle", fmt_bytes(w->bytes, bytes,
	    sizeof(bytes)), w->keys,
	    (long long)to->spec->sharing.reclaim_grace_ms / 1000);
	memset(&w->drain, 0, sizeof(w->drain));
	w->drain.processing = w->busy;
	w->drain.unique_keys = w->keys;
	worker_set_state(w, W_DRAINING);
	arm_reclaim_deadline(w);
	worker_drain_poll(w);
}


/*
 * w's job ends at end_wall_ms (its time limit), or is no use any more
 * (requeued): drained and retired through the scheduler before, as a
 * reclaimed worker is, so that its data moves first; its job goes with it
 * (worker_terminate).  It no longer counts as capacity, so a replacement
 * comes while demand wants one, and a refused retirement is asked again.
 * kind and why make the event.
 */
void
worker_expire(struct worker *w, int64_t end_wall_ms, const char *kind,
    const char *why)
{
	struct instance *in = w->inst;
	char bytes[32];

	if (w->state != W_RUNNING && w->state != W_DRAINING)
		return;
	if (w->expires_wall_ms <= 0 && end_wall_ms > 0 && w->listed)
		in->expiring++;
	else if (w->expires_wall_ms > 0 && end_wall_ms <= 0 && w->listed)
		in->expiring--;
	w->expires_wall_ms = end_wall_ms;
	ev(in, kind, "worker w%d (%s) %s: %s, %s in %d keys; draining, "
	    "then retired through the scheduler (its data moved first); "
	    "replaced if demand remains", w->id, w->name, why,
	    w->busy > 0 ? "busy" : "idle", fmt_bytes(w->bytes, bytes,
	    sizeof(bytes)), w->keys);
	memset(&w->drain, 0, sizeof(w->drain));
	w->drain.processing = w->busy;
	w->drain.unique_keys = w->keys;
	worker_set_state(w, W_DRAINING);
	worker_drain_poll(w);
}


/* Each tick of the donor: drains go on, or stop where the recipient no
 * longer wants the slot (its reservation was dropped). */
void
instance_drains(struct instance *in)
{
	struct pool *p = in->cp->pool;
	size_t i;

	for (i = 0; i < in->nworkers; i++) {
		struct worker *w = in->workers[i];

		if (w->state != W_DRAINING)
			continue;
		if (w->expires_wall_ms > 0) {
			worker_drain_poll(w);
			continue;
		}
		if (w->reclaim_for < 0 ||
		    pool_slot_reserved(p, w->slot) != w->reclaim_for) {
			ev(in, "reclaim_cancelled", "worker w%d (%s) keeps slot "
			    "%d: %s no longer needs it", w->id, w->name,
			    w->slot, w->reclaim_for >= 0 ? reclaim_name(w) :
			    "its recipient");
			w->reclaim_for = -1;
			worker_index(w);
			w->idle_since_ms = -1;
			loop_timer_clear(in->ctl->loop, &w->reclaim_timer);
			worker_set_state(w, W_RUNNING);
			if (sched_client(in->sched) != NULL) {
				w->drain_busy = true;
				in->ctl->engine->drain(
				    sched_client(in->sched), w->address,
				    false, OBSERVE_TIMEOUT_MS, on_undrained,
				    w);
			}
			continue;
		}
		worker_drain_poll(w);
	}
}


/* The worker of donor to give up for a reclaim at now: pool_victim()
 * chooses among its launching and running workers; NULL when none
 * qualifies. */
static struct worker *
reclaim_victim(struct instance *donor, bool share, int64_t now)
{
	struct pool *p = donor->cp->pool;
	struct pool_candidate *c;
	struct worker **ws, *w = NULL;
	size_t i, n = 0;
	int v;

	c = xcalloc(donor->nworkers + 1, sizeof(*c));
	ws = xcalloc(donor->nworkers + 1, sizeof(*ws));
	for (i = 0; i < donor->nworkers; i++) {
		struct worker *o = donor->workers[i];

		if (o->state != W_LAUNCHING && o->state != W_RUNNING)
			continue;
		c[n].launching = o->state == W_LAUNCHING;
		c[n].taken = o->reclaim_for >= 0 ||
		    pool_slot_reserved(p, o->slot) != POOL_FREE;
		c[n].launched_ms = o->launched_ms;
		c[n].busy = o->busy;
		c[n].bytes = o->bytes;
		ws[n++] = o;
	}
	v = pool_victim(c, n, share, donor->metrics.memory > 0,
	    donor->spec->scaling.scale_down_delay_ms, now);
	if (v >= 0)
		w = ws[v];
	free(c);
	free(ws);
	return w;
}


/*
 * For an instance whose workers wait for a slot: the moves the pool's
 * reclaim plan makes for it (pool_reclaim_for(): the plan goes no further
 * than its own moves), carried out.  Returns how many slots it is taking
 * back now; *why says why none could be, when that is so, from the
 * entitlements the plan used.
 */
int
instance_reclaim(struct instance *in, int64_t now, char *why, size_t whylen)
{
	struct ctl *c = in->ctl;
	struct pool_claim *claims = xcalloc(c->ninst, sizeof(*claims));
	struct instance **who = xcalloc(c->ninst, sizeof(*who));
	int *ent = xcalloc(c->ninst, sizeof(*ent));
	struct pool_move *moves;
	size_t i, n, nm, me;
	int taken = 0, cap;

	why[0] = '\0';
	n = pool_claims(c, in->cp, in, now, claims, who);
	me = n;
	/* a demand not known yet (a restarted daemon) is no ground for
	 * taking anything */
	for (i = 0; i < n; i++) {
		if (!who[i]->decided) {
			snprintf(why, whylen, "waiting for %s's first tick",
			    who[i]->spec->name);
			free(claims);
			free(who);
			free(ent);
			return 0;
		}
		if (who[i] == in)
			me = i;
	}
	ASSERT(me < n);		/* pool_claims() includes in */
	/* it is brought up to its entitlement at most, which is no more
	 * than min(demand, max): room for that many moves, not the pool's */
	cap = claims[me].demand < claims[me].max ? claims[me].demand :
	    claims[me].max;
	cap = cap > 0 ? cap : 0;
	moves = xcalloc((size_t)cap + 1, sizeof(*moves));
	nm = pool_reclaim_for(pool_size(in->cp->pool), claims, n, me, moves,
	    (size_t)cap + 1, ent);
	for (i = 0; i < nm; i++) {
		struct worker *w;

		w = reclaim_victim(who[moves[i].from],
		    moves[i].why == POOL_WHY_SHARE, now);
		if (w == NULL)
			continue;
		worker_reclaim(w, in, moves[i].why);
		taken++;
	}
	if (taken == 0) {
		if (n > 1 && claims[me].held >= ent[me])
			snprintf(why, whylen, "at its fair share (%d of %d "
			    "slots; owned %d, share %d)", claims[me].held,
			    pool_size(in->cp->pool), in->spec->sharing.owned,
			    in->spec->sharing.share);
		else if (n > 1)
			snprintf(why, whylen, "the slots above others' shares "
			    "were taken less than their scale_down_delay ago");
	}
	free(moves);
	free(claims);
	free(who);
	free(ent);
	return taken;
}
