"""edask's scheduler preload: what edask needs from a Dask scheduler that
its HTTP API does not offer, the same on every Dask of the supported range
(2022.12 to today's).

edask builds this file into its binary, writes it next to the instance's
scheduler and starts the scheduler with `--preload` on it.  It adds two
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
               "keys": 10, "unique_keys": 3}}

processing counts the tasks assigned to it and not finished (running or
waiting on it); unique_keys the results only it holds.  edask retires the
worker through /api/v1/retire_workers once processing is 0, so that no
task of a reclaimed worker is restarted elsewhere.

    GET /api/v1/edask/workers

answers every worker as the scheduler sees it, in the shape of the
`workers` of /json/identity.json for the fields edask reads:

    {"workers": {address: {"name": ..., "nthreads": 1,
        "memory_limit": N, "resources": {"GPU": 1},
        "metrics": {"task_counts": {"processing": 2, "memory": 5},
                    "managed_bytes": N, "memory": RSS}}}}

processing is the tasks the scheduler has assigned to it and not seen
finish (running or waiting there).  identity.json itself cannot serve:
since 2024 it fails with HTTP 500 while tasks run (worker metrics keyed by
tuples), and what it reports comes from the workers' heartbeats, a second
behind the scheduler's own view.

When a worker joins, the preload asks Dask's work stealing to balance at
once, and again over the next second, instead of at its next interval
(1 s since 2025.2): tasks that need a resource (GPU=1) are never queued on
the scheduler, so a burst's whole backlog sits on the first worker, and
only stealing gives the newcomers any of it.  Stealing moves a task only
if its worker has not started it, so nothing is computed twice.
"""
import asyncio
import json
import time

from distributed.core import Status
from distributed.diagnostics.plugin import SchedulerPlugin
from distributed.http.utils import RequestHandler

ROUTE = r"/api/v1/edask/drain"
CHANGES = r"/api/v1/edask/changes"
WORKERS = r"/api/v1/edask/workers"
TIMEOUT_MAX = 300.0


class ChangeSignal(SchedulerPlugin):
    """Counts the events that can change the workers needed, and wakes
    the requests waiting for the count to move."""

    name = "edask-changes"

    def __init__(self):
        self.seq = 0
        self.waiters = set()

    def bump(self):
        self.seq += 1
        for fut in self.waiters:
            if not fut.done():
                fut.set_result(None)
        self.waiters.clear()

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
            fut = asyncio.get_running_loop().create_future()
            signal.waiters.add(fut)
            try:
                await asyncio.wait_for(fut, timeout)
            except asyncio.TimeoutError:
                pass
            finally:
                signal.waiters.discard(fut)
        self.write(json.dumps({"seq": signal.seq}))


def worker_state(ws):
    return {
        "status": ws.status.name,
        "processing": len(ws.processing),
        "keys": len(ws.has_what),
        "unique_keys": sum(1 for ts in ws.has_what if len(ts.who_has) == 1),
    }


def worker_view(ws):
    metrics = ws.metrics or {}
    return {
        "name": str(ws.name),
        "nthreads": ws.nthreads,
        "memory_limit": ws.memory_limit,
        "resources": dict(ws.resources or {}),
        "status": ws.status.name,
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
        self.write(json.dumps({"workers": out}, default=str))


class DrainHandler(RequestHandler):
    def post(self):
        self.set_header("Content-Type", "application/json")
        scheduler = self.server
        try:
            params = json.loads(self.request.body or b"{}")
            addresses = params.get("workers", [])
            drain = bool(params.get("drain", True))
            if not isinstance(addresses, list) or not all(
                    isinstance(a, str) for a in addresses):
                raise ValueError("workers must be a list of addresses")
        except ValueError as e:
            self.set_status(400)
            self.write(json.dumps({"error": str(e)}))
            return
        want = Status.closing_gracefully if drain else Status.running
        stimulus = "edask-drain-%f" % time.time()
        out = {}
        for address in addresses:
            ws = scheduler.workers.get(address)
            if ws is None:
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
    scheduler.http_application.add_handlers(r".*$", [
        (ROUTE, DrainHandler, {"dask_server": scheduler}),
        (WORKERS, WorkersHandler, {"dask_server": scheduler}),
        (CHANGES, ChangesHandler, {"dask_server": scheduler,
                                   "extra": {"signal": signal}}),
    ])
