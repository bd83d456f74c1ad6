"""Helpers for integration tests: run the real `edask up` with real Dask.

Every daemon runs on 127.0.0.1 with an ephemeral port and a temporary
state folder.  Teardown stops it with SIGTERM, expects exit 0, and fails
the test if any process that belongs to its state folder is still alive
(workers and schedulers carry the folder in their command line).
"""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from slurm_cluster import SlurmCluster, netns_unavailable, unavailable

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EDASK = os.environ.get("EDASK_BIN") or os.path.join(ROOT, "build", "edask")
FAKENVML_DIR = os.path.join(ROOT, "build", "fakenvml")
HERE = os.path.dirname(os.path.abspath(__file__))
# The Python of this run is the instances' too (EDASK_PYTHON is what a
# spec's `python: auto` means): the project's .venv for the main lane,
# Debian's /usr/bin/python3 for the compatibility lane
# (scripts/run-integration.sh).  Client and scheduler must share a Dask.
PYTHON = sys.executable


def wait_for(pred, timeout=60.0, interval=0.1, what="condition"):
    """Polls pred() until it returns a truthy value; fails after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.0fs waiting for %s (last: %r)"
                         % (timeout, what, last))


def procs_under(path):
    """PIDs whose command line mentions path (our schedulers and workers)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if path in cmd:
            pids.append(int(d))
    return pids


class Edask:
    """One `edask up` process."""

    def __init__(self, tmp_path, args=(), specs=(), env=None, serve=False):
        self.serve = serve
        self.state = str(tmp_path / "state")
        self.log_path = str(tmp_path / "edask.log")
        self.args = list(args)
        self.spec_files = []
        for i, text in enumerate(specs):
            p = tmp_path / ("spec%d.yaml" % i)
            p.write_text(text)
            self.spec_files.append(str(p))
        self.env = dict(os.environ)
        self.env["EDASK_PYTHON"] = PYTHON
        # Dask since 2023 unpickles task graphs on the scheduler, and
        # pickles a graph's functions by reference: the test modules
        # must import there and on the workers
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (HERE, os.environ.get("PYTHONPATH")) if p)
        self.env.update(env or {})
        self.proc = None
        self.url = None

    def start(self, wait=True):
        if self.serve:
            cfg = os.path.join(os.path.dirname(self.state), "edask.yaml")
            if not os.path.exists(cfg):
                with open(cfg, "w") as f:
                    f.write("listen: 127.0.0.1:0\nstate_dir: %s\n"
                            "pools: [{name: local, backend: local, gpus: 2}]\n"
                            % self.state)
            cmd = [EDASK, "serve", "-c", cfg] + self.args
        else:
            cmd = [EDASK, "up", "--listen", "127.0.0.1:0", "--state-dir",
                   self.state] + self.args
            for f in self.spec_files:
                cmd += ["-f", f]
        url_file = os.path.join(self.state, "api.url")
        if os.path.exists(url_file):
            os.unlink(url_file)
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=self.env)
        if wait:
            url_file = os.path.join(self.state, "api.url")
            wait_for(lambda: os.path.exists(url_file) or self.proc.poll() is not None,
                     what="api.url")
            assert self.proc.poll() is None, self.log()
            with open(url_file) as f:
                self.url = f.read().strip()
        return self

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def get(self, path, expect=200):
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        assert status == expect, (path, status, body)
        return json.loads(body)

    def token(self):
        with open(os.path.join(self.state, "token")) as f:
            return f.read().strip()

    def request(self, method, path, body=None, token=True):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=body)
        if token is True:
            req.add_header("Authorization", "Bearer " + self.token())
        elif token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def cli(self, *args, check=True, env=None):
        e = dict(os.environ, EDASK_STATE_DIR=self.state)
        e.update(env or {})
        r = subprocess.run([EDASK] + list(args) + ["--addr", self.url],
                           capture_output=True, text=True, timeout=60,
                           env=e)
        if check:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    def instance(self, name="dask"):
        return self.get("/v1/instances/" + name)

    def events(self, instance=None, kind=None):
        q = "/v1/events?limit=10000"
        if instance:
            q += "&instance=" + instance
        evs = self.get(q)["events"]
        return [e for e in evs if kind is None or e["kind"] == kind]

    def wait_started(self, name="dask", timeout=90):
        inst = wait_for(lambda: self._state_is(name, "started"), timeout,
                        what="instance %s started" % name)
        return inst

    def _state_is(self, name, state):
        inst = self.instance(name)
        if inst["state"] == "error":
            raise AssertionError("instance in error: %s" % inst["error"])
        return inst if inst["state"] == state else None

    def running(self, name="dask"):
        inst = self.instance(name)
        return [w for w in inst["workers"] if w["state"] == "running"]

    def wait_running(self, n, name="dask", timeout=90, exact=True):
        def ok():
            inst = self.instance(name)
            live = [w for w in inst["workers"]]
            run = [w for w in live if w["state"] == "running"]
            if exact:
                return inst if len(run) == n and len(live) == n else None
            return inst if len(run) >= n else None
        return wait_for(ok, timeout, interval=0.2,
                        what="%d running workers of %s" % (n, name))

    def scheduler_address(self, name="dask"):
        """The instance's address; its TLS credentials are noted for
        client(address)."""
        out = self.instance(name)["outputs"]
        addr = out["dask_scheduler_address"]
        CREDENTIALS[addr] = out.get("dask_tls")
        return addr

    def client_env(self, name="dask"):
        """The environment a Dask user's script runs in: DASK_CONFIG is
        the instance's client config (address and TLS credentials)."""
        out = self.instance(name)["outputs"]
        return dict(os.environ, DASK_CONFIG=out["dask_client_config"],
                    DASK_SCHEDULER_ADDRESS=out["dask_scheduler_address"])

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("edask did not stop within %ds:\n%s"
                                 % (timeout, self.log()[-3000:]))

    def stop_instances(self):
        """serve leaves its instances running on SIGTERM: stop them first."""
        if self.proc is None or self.proc.poll() is not None or not self.url:
            return
        try:
            for inst in self.get("/v1/instances")["instances"]:
                self.request("POST", "/v1/instances/%s/stop" % inst["name"])
            wait_for(lambda: not procs_under(self.state), timeout=60,
                     what="instances stopped")
        except Exception:
            pass

    def cleanup(self):
        """Stops the daemon; returns the PIDs left behind (then killed)."""
        if self.serve:
            self.stop_instances()
        rc = self.stop()
        left = []
        if os.path.isdir(self.state):
            left = procs_under(self.state)
            for pid in left:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        if hasattr(self, "logf"):
            self.logf.close()
        return rc, left


@pytest.fixture
def edask(tmp_path):
    """Factory: edask(args=..., specs=...) -> started Edask.  Teardown
    checks clean exit and that no process was left behind."""
    made = []

    def make(args=(), specs=(), env=None, start=True, wait=True, serve=False):
        d = tmp_path / ("e%d" % len(made))
        d.mkdir()
        e = Edask(d, args, specs, env, serve)
        made.append(e)
        if start:
            e.start(wait=wait)
        return e

    yield make
    problems = []
    for e in made:
        if e.proc is None:
            continue
        was_running = e.proc.poll() is None
        rc, left = e.cleanup()
        if was_running and rc != 0:
            problems.append("edask exited %s on SIGTERM" % rc)
        if left:
            problems.append("processes left behind: %s" % left)
    if problems:
        pytest.fail("; ".join(problems) + "\n" + made[-1].log()[-4000:])


# address -> the outputs' dask_tls of its instance (None without TLS)
CREDENTIALS = {}


def security_for(address):
    import distributed
    tls = CREDENTIALS.get(address)
    if not tls:
        return None
    return distributed.Security(tls_ca_file=tls["ca_file"],
                                tls_client_cert=tls["cert"],
                                tls_client_key=tls["key"],
                                require_encryption=True)


def client(address):
    """A client of the instance at address (Edask.scheduler_address),
    with its credentials."""
    import distributed
    return distributed.Client(address, timeout=30,
                              security=security_for(address))


def spec(name="dask", min=1, max=None, gpus=0, threads=1, interval="500ms",
         idle="3s", delay="1s", start_timeout="60s", extra="", workers=""):
    """A spec's text; workers adds keys to its workers mapping
    ("type: dask")."""
    mx = "" if max is None else ", max: %d" % max
    wx = ", " + workers if workers else ""
    return ("name: %s\n"
            "workers: {min: %d%s, gpus: %d, threads: %d%s}\n"
            "scaling: {interval: %s, idle_timeout: %s, scale_down_delay: %s,"
            " start_timeout: %s}\n%s"
            % (name, min, mx, gpus, threads, wx, interval, idle, delay,
               start_timeout, extra))


def up_with_client(edask, slots, **spec_args):
    """`edask up --gpus SLOTS` (the edask fixture) with one
    spec(**spec_args), waited for until started with one worker running;
    returns (the Edask, a client of its instance), the caller to close
    the client."""
    e = edask(args=["--gpus", str(slots)], specs=[spec(**spec_args)])
    return e, started_client(e)


def started_client(e, timeout=90):
    """Waits for e's instance to be started with its first worker
    running; returns a new client of it, the caller to close it."""
    e.wait_started()
    e.wait_running(1, timeout=timeout)
    return client(e.scheduler_address())


@contextlib.contextmanager
def client_once_started(e, tmp_path, timeout=90):
    """started_client, with a new counter folder (new_counter_dir); gives
    both, the client closed on leaving."""
    counter = new_counter_dir(tmp_path)
    c = started_client(e, timeout)
    try:
        yield counter, c
    finally:
        c.close()


def counted(counter_dir, fn):
    """Wraps fn so that every execution appends its key to a file: the
    count of lines per key is the number of times it ran, on any worker."""
    def run(key, *args):
        with open(os.path.join(counter_dir, "runs"), "a") as f:
            f.write("%s\n" % key)
        return fn(*args)
    return run


def new_counter_dir(tmp_path):
    """A new folder for counted's file: tmp_path/count."""
    path = str(tmp_path / "count")
    os.makedirs(path)
    return path


def counted_burst(c, counter_dir, n, prefix="burst", **map_args):
    """Submits n counted tasks ("PREFIX-I") of 0.5 s that return I."""
    sleepy = counted(counter_dir, lambda i: time.sleep(0.5) or i)
    return c.map(sleepy, ["%s-%d" % (prefix, i) for i in range(n)], range(n),
                 pure=False, **map_args)


def executions(counter_dir):
    path = os.path.join(counter_dir, "runs")
    if not os.path.exists(path):
        return {}
    counts = {}
    with open(path) as f:
        for line in f:
            counts[line.strip()] = counts.get(line.strip(), 0) + 1
    return counts


def assert_each_ran_once(counter_dir, n):
    """n keys ran (counted under counter_dir), each exactly once."""
    runs = executions(counter_dir)
    twice = {k: m for k, m in runs.items() if m != 1}
    assert not twice, "computed more than once: %s" % twice
    assert len(runs) == n


def metric_value(e, name, labels='{instance="dask"}'):
    """A sample of the daemon's /metrics, or None."""
    with urllib.request.urlopen(e.url + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + labels + " "):
                return float(line.split()[-1])
    return None


def workers_of(c):
    """The scheduler's workers (address -> info) read fresh.  Not
    c.scheduler_info()["workers"]: that returns the client's shared cache,
    and the client's own refresh every 2 s (Dask 2025 and later asks for
    n_workers=0) can empty it between the fetch and the return."""
    return c.sync(c.scheduler.identity)["workers"]


def pinned_chunks(c, counter_dir, n_workers, n_chunks, size):
    """n_chunks counted arrays ("chunk-I", size int64s of value I), chunk I
    pinned to the (I mod n_workers)-th of the n_workers workers the client
    c must see; waits for them and checks that each worker holds some.
    Returns their futures."""
    import distributed
    import numpy as np
    make = counted(counter_dir, lambda i: np.full(size, i, dtype="i8"))
    addrs = sorted(workers_of(c))
    assert len(addrs) == n_workers
    chunks = [c.submit(make, "chunk-%d" % i, i,
                       workers=[addrs[i % n_workers]],
                       allow_other_workers=False, pure=False)
              for i in range(n_chunks)]
    distributed.wait(chunks)
    holders = {w for ws in c.who_has(chunks).values() for w in ws}
    assert len(holders) == n_workers, holders
    return chunks


def check_chunks_sum(c, counter_dir, chunks, size):
    """A counted task ("total") sums the pinned_chunks chunks of size: the
    sum of every value, each once."""
    total = counted(counter_dir, lambda *xs: int(sum(x.sum() for x in xs)))
    got = c.submit(total, "total", *chunks, pure=False).result(timeout=60)
    assert got == sum(i * size for i in range(len(chunks)))


@pytest.fixture(scope="module")
def slurm(request, tmp_path_factory):
    """A real Slurm cluster (slurm_cluster.py) for the module's tests:
    single-node, or, where the module sets NODES, that many node hosts in
    network namespaces.  Skipped where this machine cannot run it (failed
    instead where EDASK_REQUIRE_SLURM=1: make test as root); after the
    module, no job (nor namespace or link) may be left."""
    nodes = getattr(request.module, "NODES", 0)
    why = unavailable()
    if why is not None:
        if os.environ.get("EDASK_REQUIRE_SLURM") == "1":
            pytest.fail("Slurm tests required here, but: %s" % why)
        pytest.skip("no Slurm test cluster on this machine: %s" % why)
    if nodes:
        # a missing package is make deps' to fix; a kernel that refuses
        # namespaces (a container without CAP_SYS_ADMIN) is not
        why = netns_unavailable()
        if why is not None:
            pytest.skip("no namespaced Slurm cluster on this machine: %s"
                        % why)
    cluster = SlurmCluster(
        tmp_path_factory.mktemp("slurm-nodes" if nodes else "slurm"),
        nodes=nodes)
    cluster.start()
    yield cluster
    left = cluster.stop()
    assert not left, "jobs still active at the end: %s" % left
    if nodes:
        assert not cluster.net.left(), \
            "namespaces or links left: %s" % cluster.net.left()


@pytest.fixture
def slurm_clean(slurm):
    """The slurm cluster, each test starting and ending with no active
    job (ask for it before `edask`, so that its teardown runs after the
    daemon's)."""
    assert not slurm.cancel_all()
    yield slurm
    left = slurm.active()
    # the daemon has stopped by now (edask's teardown ran first): every
    # job it submitted must be gone with it
    assert not left, "jobs left behind: %s" % [
        (j["job_id"], j["name"], j["job_state"]) for j in left]


def pytest_collection_modifyitems(session, config, items):
    """Workers cannot import test modules: ship their functions by value."""
    import cloudpickle
    for mod in {item.module for item in items}:
        cloudpickle.register_pickle_by_value(mod)
