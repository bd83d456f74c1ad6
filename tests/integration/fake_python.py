#!/usr/bin/python3
"""Stands in for a python interpreter in fault tests (spec `python:`).

  fake_python -c CODE                        runs CODE (edask's probe of the
                                             Dask version, the preflight)
  fake_python -m distributed.cli.dask_scheduler ... --scheduler-file F
      serves /health and misbehaving scheduler endpoints; what it answers is
      read from $FAKE_SCHED_MODE_FILE on every request:
        ok         valid, empty cluster
        garbage    bytes that are neither JSON nor Prometheus text
        wrongtype  JSON of the wrong shape, negative counts
        slow       valid replies after 8 s (longer than edask's timeout)
        demand     valid, one task queued
        refuse     valid; POST /api/v1/retire_workers answers {} (refused)
      With $FAKE_OLD_PRELOAD set it has the routes of an edask preload from
      before /api/v1/edask/retire_workers (GET /api/v1/edask/workers, as
      identity.json), and that route answers 404.  $FAKE_POSTS_FILE, if set,
      gets the path of every POST, a line each.
  fake_python -m distributed.cli.dask_worker ... --name N --local-directory D
      registers with the fake scheduler when $FAKE_WORKERS_REGISTER is set
      (a file in D/../fake-workers that the scheduler lists as an idle
      worker holding 1 KiB), then sleeps until killed; otherwise it only
      sleeps and never registers.
"""
import http.server
import json
import os
import socketserver
import sys
import time


WORKERS_DIR = None


def workers():
    """The fake workers that registered: {address: name}."""
    out = {}
    if WORKERS_DIR and os.path.isdir(WORKERS_DIR):
        for name in sorted(os.listdir(WORKERS_DIR)):
            with open(os.path.join(WORKERS_DIR, name)) as f:
                out[f.read().strip()] = name
    return out


def identity():
    ws = {}
    for addr, name in workers().items():
        ws[addr] = {"name": name, "nthreads": 1, "memory_limit": 1 << 30,
                    "metrics": {"task_counts": {}, "managed_bytes": 1024,
                                "memory": 50 << 20}}
    return json.dumps({"type": "Scheduler", "workers": ws}).encode()


LAST_MODE = ["ok"]


def mode():
    """The mode file's word.  The tests rewrite it with Path.write_text,
    which truncates first: a read in between sees nothing, and is the mode
    before (it used to be taken as an unknown mode, so /api/v1/edask/workers
    answered 404 once, and edask, seeing no preload, chose Dask's own
    retire route: test_a_preload_without_the_retire_route... failed)."""
    try:
        with open(os.environ["FAKE_SCHED_MODE_FILE"]) as f:
            m = f.read().strip()
    except OSError:
        return "ok"
    if m:
        LAST_MODE[0] = m
    return LAST_MODE[0]


REPLIES = {
    "ok": {
        "/metrics": b'dask_scheduler_tasks{state="queued"} 0.0\n',
        "/api/v1/adaptive_target": b'{"workers": 0}',
        "/json/identity.json": b'{"type": "Scheduler", "workers": {}}',
    },
    "garbage": {
        "/metrics": b"\x00\xff{{{ not prometheus\ndask_scheduler_tasks{state=",
        "/api/v1/adaptive_target": b"\xde\xad\xbe\xef" * 100,
        "/json/identity.json": b"[" * 10000,
    },
    "wrongtype": {
        "/metrics": b'dask_scheduler_tasks{state="queued"} -5.0\n',
        "/api/v1/adaptive_target": b'{"workers": "many"}',
        "/json/identity.json": b'{"workers": [1, 2, 3]}',
    },
}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n))
        if os.environ.get("FAKE_POSTS_FILE"):
            with open(os.environ["FAKE_POSTS_FILE"], "a") as f:
                f.write(self.path + "\n")
        if os.environ.get("FAKE_OLD_PRELOAD") and \
                self.path == "/api/v1/edask/retire_workers":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        done = {}
        if mode() != "refuse":
            for addr, name in workers().items():
                if addr in req.get("workers", []):
                    os.unlink(os.path.join(WORKERS_DIR, name))
                    done[addr] = {"name": name}
        body = json.dumps(done).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        m = mode()
        if self.path == "/health":
            body = b"ok"
        elif m == "demand" and self.path == "/metrics":
            body = b'dask_scheduler_tasks{state="queued"} 1.0\n'
        elif m in ("ok", "demand", "refuse") and (
                self.path == "/json/identity.json" or
                (os.environ.get("FAKE_OLD_PRELOAD") and
                 self.path == "/api/v1/edask/workers")):
            body = identity()
        else:
            if m == "slow":
                time.sleep(8)
                m = "ok"
            body = REPLIES.get(m, REPLIES["ok"]).get(self.path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def scheduler(args):
    global WORKERS_DIR
    sched_file = args[args.index("--scheduler-file") + 1]
    WORKERS_DIR = os.path.join(os.path.dirname(sched_file), "fake-workers")
    srv = Server(("127.0.0.1", 0), Handler)
    tmp = sched_file + ".tmp"
    # the scheme edask asked for (--protocol tls: the instance's TLS)
    scheme = "tls" if "--protocol" in args and \
        args[args.index("--protocol") + 1] == "tls" else "tcp"
    with open(tmp, "w") as f:
        json.dump({"address": scheme + "://127.0.0.1:9",
                   "services": {"dashboard": srv.server_address[1]}}, f)
    os.rename(tmp, sched_file)
    srv.serve_forever()


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["-c"]:
        # edask's probe and preflight: answered by the Python running
        # this file, which has a real Dask
        exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
        return 0
    if argv[:2] == ["-m", "distributed.cli.dask_scheduler"]:
        scheduler(argv)
    elif argv[:2] == ["-m", "distributed.cli.dask_worker"]:
        if os.environ.get("FAKE_WORKERS_REGISTER"):
            name = argv[argv.index("--name") + 1]
            local = argv[argv.index("--local-directory") + 1]
            d = os.path.join(os.path.dirname(local), "fake-workers")
            os.makedirs(d, exist_ok=True)
            scheme = "tls" if "--tls-cert" in argv else "tcp"
            with open(os.path.join(d, name), "w") as f:
                f.write("%s://127.0.0.1:%d" % (scheme,
                                               10000 + os.getpid() % 50000))
        while True:
            time.sleep(60)
    return 2


if __name__ == "__main__":
    sys.exit(main())
