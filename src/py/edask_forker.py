"""edask's worker forker: starts Dask workers by fork instead of exec.

A Dask worker spends most of its start importing Python modules (about
0.6 s for distributed alone on a small machine; more with xgboost or
RAPIDS).  This process imports them once, then forks one worker per
request, already warm.  It never touches CUDA, so each forked worker picks
up its own CUDA_VISIBLE_DEVICES, set before anything GPU-related is
imported.

edask builds this file into its binary, writes it next to the instance's
scheduler and runs it as

    python -u edask_forker.py SOCKET [MODULE...]

It imports distributed's worker command, what a worker imports as it
starts (warm_up) and each MODULE, listens on the
unix socket SOCKET (mode 0600) and prints "ready".  Each connection carries
one request, a JSON line:

    {"argv": ["dask-worker", "tcp://...", "--nthreads", "1", ...],
     "env": {"CUDA_VISIBLE_DEVICES": "2", ...},
     "log": "/path/w3-x-2.log", "cwd": "/path"}

and gets one JSON line back: {"pid": N}, or {"error": "..."}.  The worker
is a child of this process in a session of its own (edask signals its
group, as for exec'd workers), with stdout and stderr appended to the log.
This process reaps its children; edask watches each worker by pidfd.
"""
import importlib
import json
import os
import signal
import socket
import sys
import traceback

REQUEST_MAX = 1 << 20


def reap(signum, frame):
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def read_request(conn):
    """The request, or None for a connection closed without one (edask
    checks that the socket answers that way)."""
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        buf += chunk
        if len(buf) > REQUEST_MAX:
            raise ValueError("request too long")
    if not buf:
        return None
    req = json.loads(buf)
    if (not isinstance(req, dict) or not isinstance(req.get("argv"), list)
            or not req["argv"]
            or not all(isinstance(a, str) for a in req["argv"])
            or not isinstance(req.get("env", {}), dict)
            or not isinstance(req.get("log"), str)
            or not isinstance(req.get("cwd"), str)):
        raise ValueError("bad request")
    return req


def reply(conn, obj):
    """One JSON line back; a peer that has gone away is not an error
    here (edask then starts the worker by exec, or already did)."""
    try:
        conn.sendall(json.dumps(obj).encode() + b"\n")
    except OSError as e:
        print("edask_forker: cannot reply: %s" % e, file=sys.stderr)


def run_worker(req, listener, conn, worker_main):
    """In the forked child: become the worker; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        listener.close()
        conn.close()
        os.setsid()
        fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                     0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.chdir(req["cwd"])
        for k, v in req.get("env", {}).items():
            os.environ[str(k)] = str(v)
        sys.argv = list(req["argv"])
        worker_main.main(args=req["argv"][1:], prog_name=req["argv"][0],
                         standalone_mode=True)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None
                                                        else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def warm_up():
    """Imports what a worker would import as it starts, beyond its
    command: the modules of its HTTP routes (prometheus_client) and, where
    bokeh is installed, its dashboard (bokeh itself).  Measured on 2
    cores, a worker forked without them imported some 300 modules before
    it registered, 0.5 s; with them, 0.04 s.  A module that cannot be
    imported here (no bokeh: the worker serves no dashboard either) is
    left to the worker, as before."""
    import dask
    names = list(dask.config.get("distributed.worker.http.routes", []))
    names += ["distributed.dashboard.worker", "dask.distributed"]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
        except Exception as e:  # a worker importing it says more
            print("edask_forker: import %s: %r" % (name, e), file=sys.stderr)


def main():
    if len(sys.argv) < 2:
        print("usage: edask_forker.py SOCKET [MODULE...]", file=sys.stderr)
        return 2
    path = sys.argv[1]
    from distributed.cli import dask_worker
    warm_up()
    for name in sys.argv[2:]:
        importlib.import_module(name)
    signal.signal(signal.SIGCHLD, reap)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old)
    listener.listen(16)
    print("ready", flush=True)
    while True:
        try:
            conn, _ = listener.accept()
        except InterruptedError:
            continue
        with conn:
            try:
                req = read_request(conn)
            except (ValueError, OSError) as e:
                reply(conn, {"error": str(e)})
                continue
            if req is None:
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                run_worker(req, listener, conn, dask_worker.main)
            reply(conn, {"pid": pid})


if __name__ == "__main__":
    sys.exit(main())
