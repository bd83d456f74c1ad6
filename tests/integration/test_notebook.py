"""The optional notebook server of an instance (spec `notebook:`).

A real Jupyter Notebook server from Debian, started by edask next to a real
scheduler: its URL and token work, the examples are in its folder, a kernel
it starts reaches the instance's scheduler through DASK_SCHEDULER_ADDRESS,
it comes back after a crash, survives a controller kill -9 (re-adopted, same
pid), follows `notebook.enabled` live, and stops with the instance, kernels
included.
"""
import json
import os
import signal
import time
import urllib.error
import urllib.parse
import urllib.request

from conftest import procs_under, spec, wait_for

EXAMPLES = {"dask_xgb_training.ipynb", "xgb_train.py", "flights.py"}


def nb_get(base, path, token=None, method="GET"):
    req = urllib.request.Request(base + path, method=method,
                                 data=b"{}" if method == "POST" else None)
    if token:
        req.add_header("Authorization", "token " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def notebook_url(e, name):
    """The notebook URL as the token's holder reads it."""
    status, doc = e.request("GET", "/v1/instances/" + name)
    assert status == 200, doc
    return doc["outputs"].get("notebook_url")


def split(url):
    u = urllib.parse.urlsplit(url)
    token = urllib.parse.parse_qs(u.query)["token"][0]
    return "%s://%s" % (u.scheme, u.netloc), token


def notebook_pids(e, name):
    """PIDs of the notebook server: its folder is on its command line."""
    d = os.path.join(e.state, "instances", name, "notebooks")
    return [p for p in procs_under("--notebook-dir " + d)]


def wait_kernel_ready(kc, timeout):
    """Until the kernel answers kernel_info and its IOPub messages reach
    us.  Not jupyter_client's wait_for_ready: for a client without a
    KernelManager it takes one late heartbeat for a dead kernel, and on a
    loaded machine (2 cores, the daemon under ASan, the kernel starting)
    that happens while the kernel is alive and starting."""
    import queue
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, \
            "the kernel did not answer kernel_info within %ds" % timeout
        kc.kernel_info()
        try:
            msg = kc.get_shell_msg(timeout=2)
        except queue.Empty:
            continue
        if msg["msg_type"] != "kernel_info_reply":
            continue
        try:
            kc.get_iopub_msg(timeout=1)     # subscribed: output will come
            return
        except queue.Empty:
            continue


def run_in_kernel(e, name, base, token, code):
    """Starts a kernel through the notebook server and runs code in it;
    returns what it printed."""
    from jupyter_client import BlockingKernelClient

    status, k = nb_get(base, "/api/kernels", token, method="POST")
    assert status == 201, status
    conn = os.path.join(e.state, "instances", name, "jupyter-runtime",
                        "kernel-%s.json" % k["id"])
    wait_for(lambda: os.path.exists(conn), timeout=60,
             what="the kernel's connection file")
    kc = BlockingKernelClient(connection_file=conn)
    kc.load_connection_file()
    kc.start_channels()
    out = []
    try:
        wait_kernel_ready(kc, 60)
        reply = kc.execute_interactive(
            code, timeout=120,
            output_hook=lambda m: out.append(m["content"].get("text", ""))
            if m["msg_type"] == "stream" else None)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
    return "".join(out)


def test_notebook_server(edask, tmp_path):
    e = edask(serve=True)
    on = tmp_path / "on.yaml"
    on.write_text(spec(name="nb", min=1, max=2,
                       extra="notebook: {enabled: true}\n"))
    off = tmp_path / "off.yaml"
    off.write_text(spec(name="nb", min=1, max=2,
                        extra="notebook: {enabled: false}\n"))
    e.cli("deploy", str(on))
    e.wait_started("nb")
    url = wait_for(lambda: notebook_url(e, "nb"), timeout=90,
                   what="notebook_url")
    base, token = split(url)
    assert base.startswith("http://127.0.0.1:")
    assert len(token) == 48
    show = e.cli("show", "nb").stdout
    assert "notebook:" in show and url in show, show
    # the token is code execution as the daemon's user: a read without
    # the API token, the events and the daemon's log never show it
    assert e.instance("nb")["outputs"]["notebook_url"] == base + "/tree"
    assert token not in json.dumps(e.get("/v1/instances"))
    assert token not in json.dumps(e.get("/v1/events?limit=10000"))
    assert token not in e.log()
    # the options given are those of the Notebook at hand (Notebook 7's
    # Jupyter Server warns of each NotebookApp one)
    with open(os.path.join(e.state, "instances", "nb", "notebook.log")) as f:
        log = f.read()
    assert "has moved from NotebookApp" not in log, log

    # the token is needed, and works; the examples are there
    assert nb_get(base, "/api/contents")[0] == 403
    status, listing = nb_get(base, "/api/contents", token)
    assert status == 200
    assert EXAMPLES <= {c["name"] for c in listing["content"]}
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200

    # a kernel of this server talks to this instance's scheduler
    sched = e.scheduler_address("nb")
    out = run_in_kernel(e, "nb", base, token,
                        "import os, distributed\n"
                        "c = distributed.Client(timeout=30)\n"
                        "print(os.environ['DASK_SCHEDULER_ADDRESS'])\n"
                        "print(c.scheduler.address)\n"
                        "print(sum(c.run(lambda: 1).values()))\n"
                        "c.close()\n")
    assert out.split() == [sched, sched, "1"], out

    # the token must not be on the command line, where anyone can read it
    pid = e.instance("nb")["notebook"]["pid"]
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        assert token.encode() not in f.read()

    # killed on its own: an event, then a new server on the same URL
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: e.events("nb", "notebook_exited"), timeout=30,
             what="notebook_exited")
    wait_for(lambda: e.instance("nb")["notebook"]["pid"] not in (0, pid)
             and notebook_url(e, "nb"), timeout=90,
             what="the notebook server back")
    assert notebook_url(e, "nb") == url
    pid = e.instance("nb")["notebook"]["pid"]

    # controller kill -9: the next one re-adopts the same server
    e.proc.kill()
    e.proc.wait()
    assert os.path.exists("/proc/%d" % pid)
    e.start()
    e.wait_started("nb")
    wait_for(lambda: notebook_url(e, "nb"), timeout=60,
             what="notebook_url after the restart")
    assert e.instance("nb")["notebook"]["pid"] == pid
    assert notebook_url(e, "nb") == url
    assert any("re-adopted" in ev["message"]
               for ev in e.events("nb", "notebook"))

    # notebook.enabled applies live: off stops it, on starts a new one
    assert "nb: updated" in e.cli("deploy", str(off)).stdout
    assert notebook_url(e, "nb") is None      # not advertised once stopping
    wait_for(lambda: not notebook_pids(e, "nb") and
             e.instance("nb")["notebook"]["pid"] == 0, timeout=30,
             what="the notebook server gone")
    assert e.instance("nb")["state"] == "started"
    e.cli("deploy", str(on))
    wait_for(lambda: notebook_url(e, "nb"), timeout=90,
             what="notebook_url again")

    # stopping the instance stops the server (the teardown checks that
    # nothing under the state folder, kernels included, is left)
    e.cli("stop", "nb")
    wait_for(lambda: e.instance("nb")["state"] == "stopped", timeout=60,
             what="instance stopped")
    assert not notebook_pids(e, "nb")
    assert e.instance("nb")["outputs"]["notebook_url"] is None
    assert not procs_under(e.state)


def test_notebook_bad_port_is_reported(edask, tmp_path):
    """A fixed port someone else holds: the server cannot start; edask
    says why and keeps the instance (the cluster matters more)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        e = edask(specs=[spec(name="nb", min=0, max=1, extra=(
            "notebook: {enabled: true, port: %d}\n" % port))])
        e.wait_started("nb")
        ev = wait_for(lambda: e.events("nb", "notebook_exited"), timeout=60,
                      what="notebook_exited")
        assert "notebook.log" in ev[0]["message"]
        assert e.instance("nb")["state"] == "started"
        assert e.instance("nb")["outputs"]["notebook_url"] is None
    finally:
        s.close()
