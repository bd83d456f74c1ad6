"""edask's scheduler preload: what edask needs from a Dask scheduler that
its HTTP API does not offer, the same on every Dask of the supported range
(2022.12 to today's).

edask builds this file into its binary, writes it next to the instance's
scheduler and starts the scheduler with `--preload` on it.  It adds these
routes to the scheduler's HTTP server (the dashboard port, which edask
already talks to).

    GET /api/v1/edask/changes?since=N&timeout=S

answers {"seq": M} as soon as M, a counter of the events that can change
how many workers the instance needs (a graph submitted, a worker added or
removed), differs from N, or after S seconds (at most 300) otherwise.
edask keeps one such request open, so it decides within milliseconds of
new work instead of at its next poll, and an idle scheduler costs it one
idle request.

    POST /api/v1/edask/drain  {"workers": [address, ...], "drain": true}

drain true sets each worker's status, on the scheduler only, to
closing_gracefully: the scheduler stops giving it new tasks, while the
worker itself keeps running the tasks it already has (it is not told, so
it does not pause).  drain false makes it running again.  The reply says,
for each worker the scheduler knows:

    {address: {"status": "closing_gracefully", "processing": 2,
               "keys": 10, "unique_keys": 3, "bytes": N}}

processing counts the tasks assigned to it and not finished (running or
waiting on it); unique_keys the results only it holds.  edask retires the
worker (below) once processing is 0, so that no task of a reclaimed worker
is restarted elsewhere.  A worker the scheduler has removed since is
answered with status "closed" and what it held when it was removed (its
departure, below).

    GET /api/v1/edask/workers

answers every worker as the scheduler sees it, in the shape of the
`workers` of /json/identity.json for the fields edask reads:

    {"workers": {address: {"name": ..., "nthreads": 1,
        "memory_limit": N, "resources": {"GPU": 1},
        "metrics": {"task_counts": {"processing": 2, "memory": 5},
                    "managed_bytes": N, "memory": RSS}}}}

processing is the tasks the scheduler has assigned to it and not seen
finish (running or waiting there).  The reply also has "departed": for
each worker removed in the last DEPARTED_FOR seconds (DEPARTED_KEPT at
most, the newest), what it held at the moment the scheduler removed it:

    "departed": {address: {"keys": 5, "unique_keys": 2, "bytes": N}}

unique_keys are the results no other worker had: lost with it, and
recomputed if still wanted.  edask tells a lost worker's loss from this
rather than from its last observation of the worker, which may predate
results made or released since (a client that let go of 20 results a
moment before the worker died did not lose them).

identity.json itself cannot serve the workers' view: since 2024 it fails
with HTTP 500 while tasks run (worker metrics keyed by tuples), and what
it reports comes from the workers' heartbeats, a second behind the
scheduler's own view.

    POST /api/v1/edask/retire_workers  {"workers": [address, ...]}

retires the workers as Dask's own /api/v1/retire_workers does (their data
moved to the other workers first, then closed; the reply is Dask's, the
workers retired keyed by address), but never under a scatter: Dask's
retirement empties a worker and closes it without regard to a scatter in
flight to it, so the client's scatter fails (CommClosedError) or its data
lands after the worker was emptied and is lost with it.  Here the workers
are held first: a scatter that names no workers goes to the others, one
that names a held worker waits until the retirement is over, and the
retirement starts once every scatter that may send to them is done (at
most SCATTER_WAIT seconds).  A client scattering with direct=True talks to
the workers itself, unseen by the scheduler.

When a worker joins, the preload asks Dask's work stealing to balance at
once, and again over the next second, instead of at its next interval
(1 s since 2025.2): tasks that need a resource (GPU=1) are never queued on
the scheduler, so a burst's whole backlog sits on the first worker, and
only stealing gives the newcomers any of it.  Stealing moves a task only
if its worker has not started it, so nothing is computed twice.
"""
import asyncio
import collections
import functools
import json
import time

from distributed.core import Status
from distributed.diagnostics.plugin import SchedulerPlugin
from distributed.http.utils import RequestHandler
from distributed.utils import recursive_to_dict

ROUTE = r"/api/v1/edask/drain"
CHANGES = r"/api/v1/edask/changes"
WORKERS = r"/api/v1/edask/workers"
RETIRE = r"/api/v1/edask/retire_workers"
TIMEOUT_MAX = 300.0
SCATTER_WAIT = 30.0	# seconds a retirement waits for scatters to finish
DEPARTED_FOR = 600.0	# seconds a removed worker's departure is kept
DEPARTED_KEPT = 1024	# departures kept at most, the newest


def wake_all(waiters):
    """Resolves every future in waiters (a set) and empties it."""
    for fut in waiters:
        if not fut.done():
            fut.set_result(None)
    waiters.clear()


async def wait_woken(waiters, timeout):
    """Waits, at most timeout seconds, for the next wake_all(waiters)."""
    fut = asyncio.get_running_loop().create_future()
    waiters.add(fut)
    try:
        await asyncio.wait_for(fut, timeout)
    except asyncio.TimeoutError:
        pass
    finally:
        waiters.discard(fut)


class ChangeSignal(SchedulerPlugin):
    """Counts the events that can change the workers needed, and wakes
    the requests waiting for the count to move."""

    name = "edask-changes"

    def __init__(self):
        self.seq = 0
        self.waiters = set()

    def bump(self):
        self.seq += 1
        wake_all(self.waiters)

    def update_graph(self, scheduler, *args, **kwargs):
        self.bump()

    # Dask passes more keywords with time (stimulus_id since 2023.7,
    # without a fallback since 2026.6): take them all.
    def add_worker(self, scheduler, worker, **kwargs):
        self.bump()
        rebalance_soon(scheduler)

    def remove_worker(self, scheduler, worker, **kwargs):
        self.bump()


REBALANCE_AFTER = (0.05, 0.25, 0.6, 1.0)	# seconds after a worker joins


def rebalance(scheduler):
    stealing = scheduler.extensions.get("stealing")
    if stealing is None or not scheduler.workers:
        return
    try:
        stealing.balance()
    except Exception as e:	# Dask's own code: log, never break the join
        print("edask preload: stealing.balance: %r" % e, flush=True)


def rebalance_soon(scheduler):
    loop = asyncio.get_running_loop()
    for t in REBALANCE_AFTER:
        loop.call_later(t, rebalance, scheduler)


class ChangesHandler(RequestHandler):
    async def get(self):
        self.set_header("Content-Type", "application/json")
        signal = self.extra["signal"]
        try:
            since = int(self.get_argument("since", "-1"))
            timeout = float(self.get_argument("timeout", "30"))
        except ValueError:
            self.set_status(400)
            self.write(json.dumps({"error": "since and timeout must be "
                                            "numbers"}))
            return
        timeout = min(max(timeout, 0.0), TIMEOUT_MAX)
        if signal.seq == since and timeout > 0:
            await wait_woken(signal.waiters, timeout)
        self.write(json.dumps({"seq": signal.seq}))


def unique_keys(ws):
    """What a death of this worker would lose: results no one else has."""
    return sum(1 for ts in ws.has_what if len(ts.who_has) == 1)


def worker_state(ws):
    return {
        "status": ws.status.name,
        "processing": len(ws.processing),
        "keys": len(ws.has_what),
        "unique_keys": unique_keys(ws),
        "bytes": ws.nbytes,
    }


class Departures:
    """What each worker held when the scheduler removed it, by address,
    oldest first; kept DEPARTED_FOR seconds, DEPARTED_KEPT at most."""

    def __init__(self):
        self.seen = collections.OrderedDict()

    def note(self, ws):
        self.seen.pop(ws.address, None)
        self.seen[ws.address] = (time.monotonic(), {
            "keys": len(ws.has_what), "unique_keys": unique_keys(ws),
            "bytes": ws.nbytes})
        while len(self.seen) > DEPARTED_KEPT:
            self.seen.popitem(last=False)

    def recent(self):
        old = time.monotonic() - DEPARTED_FOR
        while self.seen and next(iter(self.seen.values()))[0] < old:
            self.seen.popitem(last=False)
        return {a: held for a, (_, held) in self.seen.items()}

    def wrap_remove_worker(self, scheduler):
        """Every removal goes through Scheduler.remove_worker (a worker
        that closes or dies, one that misses its heartbeats, a retired
        one): what the worker holds is noted before Dask drops it.  Its
        "unregister" handler was bound at start, so it is replaced too."""
        remove = scheduler.remove_worker

        @functools.wraps(remove)
        async def noted(*args, **kwargs):
            address = kwargs.get("address", args[0] if args else None)
            try:
                ws = scheduler.workers.get(scheduler.coerce_address(address))
            except Exception:	# Dask's remove_worker says what is wrong
                ws = None
            if ws is not None:
                self.note(ws)
            return await remove(*args, **kwargs)

        scheduler.remove_worker = noted
        scheduler.handlers["unregister"] = noted


def worker_view(ws):
    metrics = ws.metrics or {}
    return {
        "name": str(ws.name),
        "nthreads": ws.nthreads,
        "memory_limit": ws.memory_limit,
        "resources": dict(ws.resources or {}),
        "status": ws.status.name,
        "unique_keys": unique_keys(ws),
        "metrics": {
            "task_counts": {"processing": len(ws.processing),
                            "memory": len(ws.has_what)},
            "managed_bytes": ws.nbytes,
            "memory": metrics.get("memory", -1),
        },
    }


class WorkersHandler(RequestHandler):
    def get(self):
        self.set_header("Content-Type", "application/json")
        scheduler = self.server
        out = {addr: worker_view(ws) for addr, ws in
               list(scheduler.workers.items())}
        self.write(json.dumps({"workers": out,
                               "departed": self.extra["departed"].recent()},
                              default=str))


class RetireGuard:
    """Keeps scatters and retirements apart: which workers edask is
    retiring (held), and which workers each scatter in flight may send
    to."""

    def __init__(self, scheduler):
        self.scheduler = scheduler
        self.held = set()
        self.inflight = {}	# a token per scatter: the addresses it may use
        self.waiters = set()
        self.next = 0

    def wake(self):
        wake_all(self.waiters)

    async def until(self, pred, timeout):
        """Waits, at most timeout seconds, for pred() to be true."""
        end = time.monotonic() + timeout
        while not pred():
            left = end - time.monotonic()
            if left <= 0:
                return False
            await wait_woken(self.waiters, left)
        return True

    def running(self):
        return {a for a, ws in self.scheduler.workers.items()
                if ws.status == Status.running}

    def named(self, workers):
        if isinstance(workers, (str, bytes)):
            workers = [workers]
        out = set()
        for w in workers:
            try:
                out.add(self.scheduler.coerce_address(w))
            except Exception:	# Dask's scatter says what is wrong
                out.add(w)
        return out

    def wrap_scatter(self):
        scatter = self.scheduler.handlers["scatter"]

        # the same signature, so that Dask passes the comm (or not) as
        # it does to its own handler
        @functools.wraps(scatter)
        async def guarded(*args, **kwargs):
            workers = kwargs.get("workers")
            if workers is not None:
                targets = self.named(workers)
                if targets & self.held:
                    await self.until(lambda: not targets & self.held,
                                     TIMEOUT_MAX)
            else:
                targets = self.running()
                if targets & self.held and targets - self.held:
                    targets = targets - self.held
                    kwargs["workers"] = sorted(targets)
            token, self.next = self.next, self.next + 1
            self.inflight[token] = targets
            try:
                return await scatter(*args, **kwargs)
            finally:
                del self.inflight[token]
                self.wake()

        self.scheduler.handlers["scatter"] = guarded

    async def retire(self, addresses):
        mine = set(addresses) - self.held
        self.held |= mine
        try:
            await self.until(lambda: not any(
                t & mine for t in self.inflight.values()), SCATTER_WAIT)
            return await self.scheduler.retire_workers(
                workers=list(addresses),
                stimulus_id="edask-retire-%f" % time.time())
        finally:
            self.held -= mine
            self.wake()


def json_workers(body):
    """The workers list of a request body; ValueError if it has none."""
    params = json.loads(body or b"{}")
    addresses = params.get("workers", []) if isinstance(params, dict) \
        else None
    if not isinstance(addresses, list) or not all(
            isinstance(a, str) for a in addresses):
        raise ValueError("workers must be a list of addresses")
    return params, addresses


class RetireHandler(RequestHandler):
    async def post(self):
        self.set_header("Content-Type", "application/json")
        try:
            _, addresses = json_workers(self.request.body)
        except ValueError as e:
            self.set_status(400)
            self.write(json.dumps({"error": str(e)}))
            return
        try:
            info = await self.extra["guard"].retire(addresses)
        except Exception as e:	# as Dask's route: an HTTP 500
            self.set_status(500)
            self.write(json.dumps({"error": "retire_workers: %r" % e}))
            return
        self.write(json.dumps(recursive_to_dict(info), default=str))


class DrainHandler(RequestHandler):
    def post(self):
        self.set_header("Content-Type", "application/json")
        scheduler = self.server
        try:
            params, addresses = json_workers(self.request.body)
            drain = bool(params.get("drain", True))
        except ValueError as e:
            self.set_status(400)
            self.write(json.dumps({"error": str(e)}))
            return
        want = Status.closing_gracefully if drain else Status.running
        stimulus = "edask-drain-%f" % time.time()
        out = {}
        departed = self.extra["departed"].recent()
        for address in addresses:
            ws = scheduler.workers.get(address)
            if ws is None:
                if address in departed:
                    out[address] = dict(departed[address],
                                        status="closed", processing=0)
                continue
            # Only between these two: a paused or closing worker is left
            # as the worker itself reported it.
            if ws.status in (Status.running, Status.closing_gracefully):
                scheduler.handle_worker_status_change(want, ws, stimulus)
            out[address] = worker_state(ws)
        self.write(json.dumps(out))


def dask_setup(scheduler):
    signal = ChangeSignal()
    scheduler.add_plugin(signal, name=signal.name)
    guard = RetireGuard(scheduler)
    guard.wrap_scatter()
    departed = Departures()
    departed.wrap_remove_worker(scheduler)
    scheduler.http_application.add_handlers(r".*$", [
        (ROUTE, DrainHandler, {"dask_server": scheduler,
                               "extra": {"departed": departed}}),
        (RETIRE, RetireHandler, {"dask_server": scheduler,
                                 "extra": {"guard": guard}}),
        (WORKERS, WorkersHandler, {"dask_server": scheduler,
                                   "extra": {"departed": departed}}),
        (CHANGES, ChangesHandler, {"dask_server": scheduler,
                                   "extra": {"signal": signal}}),
    ])
