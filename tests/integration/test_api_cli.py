"""The read side of the REST API and the CLI in `up` mode (DESIGN §5)."""
import json
import signal
import subprocess

from conftest import EDASK, spec


def test_api_and_cli_read_side(edask):
    e = edask(args=["--gpus", "2"], specs=[spec(min=1, max=2)])
    e.wait_started()
    e.wait_running(1)

    assert e.get("/healthz")["ok"] is True
    names = [i["name"] for i in e.get("/v1/instances")["instances"]]
    assert names == ["dask"]

    # The `show --json` contract.
    r = e.cli("show", "dask", "--json")
    doc = json.loads(r.stdout)
    for key in ("name", "state", "min", "max", "desired", "outputs", "workers"):
        assert key in doc, key
    assert (doc["name"], doc["state"], doc["min"], doc["max"]) == ("dask", "started", 1, 2)
    assert doc["desired"] == 1
    out = doc["outputs"]
    assert out["dask_scheduler_address"].startswith("tls://")
    assert out["dask_tls"]["key"].endswith("/tls/dask.key")
    assert out["dask_client_config"].endswith("/dask-client.yaml")
    assert out["dask_scheduler_address"] in out["dask_client_snippet"]
    assert out["dask_scheduler_dashboard_address"].startswith("http://")
    assert out["console_url"] == e.url + "/instances/dask"
    w = doc["workers"][0]
    for key in ("id", "state", "slot", "gpu", "pid", "address"):
        assert key in w, key
    assert w["state"] == "running" and w["address"].startswith("tls://127.0.0.1:")
    assert w["slot"] == 0 and w["gpu"] == 0 and w["pid"] > 0

    r = e.cli("show", "dask")
    assert "state:      started" in r.stdout
    assert out["dask_scheduler_address"] in r.stdout
    assert w["address"] in r.stdout

    r = e.cli("ls")
    assert r.stdout.splitlines()[0].split()[:2] == ["NAME", "STATE"]
    assert "dask" in r.stdout and "started" in r.stdout
    assert json.loads(e.cli("ls", "--json").stdout)["instances"][0]["name"] == "dask"

    r = e.cli("pool")
    assert "pool local: 2 simulated slots, 1 free" in r.stdout
    pool = json.loads(e.cli("pool", "--json").stdout)
    assert pool["slots"][0]["instance"] == "dask" and pool["slots"][1]["instance"] is None
    assert pool["instances"][0]["held"] == 1

    r = e.cli("events", "dask")
    assert "started" in r.stdout and "scale_up" in r.stdout
    evs = json.loads(e.cli("events", "--json").stdout)
    seqs = [x["seq"] for x in evs["events"]]
    assert seqs == sorted(seqs) and evs["last_seq"] == seqs[-1]
    newer = e.get("/v1/events?since=%d" % seqs[-2])["events"]
    assert [x["seq"] for x in newer] == [seqs[-1]]
    assert len(e.get("/v1/events?limit=2")["events"]) == 2


def test_api_errors_are_json(edask):
    e = edask(args=["--gpus", "1"], specs=[spec(min=1, max=1)])
    e.wait_started()
    for path, status, text in [
            ("/nope", 404, "no route"),
            ("/v1/instances/nope", 404, 'no instance named "nope"'),
            ("/v1/instances/dask/extra/x", 404, "no route"),
            ("/v1/events?since=abc", 400, "since"),
            ("/v1/events?since=-1", 400, "since"),
            ("/v1/events?limit=0", 400, "limit"),
            ("/v1/events?limit=99999999", 400, "limit"),
            ("/v1/events?instance=nope", 404, "nope")]:
        assert text in e.get(path, expect=status)["error"], path
    status, body = e.request("POST", "/v1/pool", b"{}")
    assert status == 405 and "not allowed" in body["error"]
    status, body = e.request("POST", "/v1/instances", b"x" * (2 << 20))
    assert status == 413, body
    assert e.get("/healthz")["ok"]

    r = e.cli("show", "nope", check=False)
    assert r.returncode == 1 and 'no instance named "nope"' in r.stderr
    r = e.cli("show", check=False)
    assert r.returncode == 2
    r = e.cli("events", "--since", "x", check=False)
    assert r.returncode == 2


def test_cli_without_daemon_and_usage():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))            # a port nobody listens on
    port = s.getsockname()[1]
    r = subprocess.run([EDASK, "ls", "--addr", "127.0.0.1:%d" % port],
                       capture_output=True, text=True)
    s.close()
    assert r.returncode == 1 and "cannot reach the daemon" in r.stderr
    r = subprocess.run([EDASK, "frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown command" in r.stderr
    r = subprocess.run([EDASK, "ls", "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2
    r = subprocess.run([EDASK, "up", "--gpus", "zero"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "--gpus" in r.stderr


def test_sigint_stops_everything_exit_0(edask):
    e = edask(args=["--gpus", "2"], specs=[spec(min=2, max=2)])
    e.wait_started()
    e.wait_running(2)
    assert e.stop(signal.SIGINT) == 0
    log = e.log()
    assert "stopped; no process left" in log
    assert log.count("worker_gone") == 2


def test_two_instances_share_the_pool(edask):
    e = edask(args=["--gpus", "3"],
              specs=[spec(name="a", min=1, max=2), spec(name="b", min=1, max=2)])
    e.wait_started("a")
    e.wait_started("b")
    e.wait_running(1, name="a")
    e.wait_running(1, name="b")
    pool = e.get("/v1/pool")
    held = {i["name"]: i["held"] for i in pool["instances"]}
    assert held == {"a": 1, "b": 1} and pool["free"] == 1


def test_console_pages(edask):
    """The console is one self-contained page, built into the binary, for
    "/" and every "/instances/NAME"; nothing else is served as a page, and
    no path reaches a file.  (What the page shows is checked in a real
    browser by test_console_browser.py.)"""
    import http.client
    import re
    import urllib.parse
    e = edask(args=["--gpus", "2"], specs=[spec(min=1, max=2)])
    e.wait_started()
    inst = e.wait_running(1)
    host = urllib.parse.urlsplit(e.url).netloc

    def fetch(method, path, headers=None):
        conn = http.client.HTTPConnection(host, timeout=10)
        conn.request(method, path, headers=headers or {})   # sent as is
        r = conn.getresponse()
        body = r.read().decode(errors="replace")
        conn.close()
        return r.status, r.getheader("Content-Type") or "", body

    status, ctype, index = fetch("GET", "/")
    assert status == 200 and ctype.startswith("text/html"), (status, ctype)
    # everything inline: no file to fetch, from the daemon or elsewhere
    assert "<style>" in index and "<script>" in index
    assert not re.search(r"<script[^>]*\ssrc=", index)
    assert not re.search(r"<link[^>]*stylesheet", index)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", index)
    assert "/v1/instances" in index and "/history" in index
    assert "no bokeh" in index
    # the instance page is the same document, routed in the browser
    url = urllib.parse.urlsplit(inst["outputs"]["console_url"])
    assert url.path == "/instances/dask"
    assert fetch("GET", url.path)[:3:2] == (200, index)
    # an instance not deployed: the page (it says so), with a 404
    assert fetch("GET", "/instances/nope")[:3:2] == (404, index)
    token = e.token()
    for path in ["/instances/%3Cb%3E", "/instances/", "/instances/dask/",
                 "/instances/dask/workers", "/instances/DASK",
                 "/instances/../token", "/instances/..%2Ftoken",
                 "/instances/%2e%2e/token", "/../token", "/token",
                 "/index.html", "/console.js", "/console.css",
                 "/console/index.html", "/instances/" + "a" * 300]:
        status, _, body = fetch("GET", path)
        assert status == 404, (path, status)
        assert token not in body and "<b>" not in body, path
        assert "<script" not in body, path
    assert fetch("POST", "/", {"Authorization": "Bearer " + token})[0] == 405
    assert fetch("HEAD", "/instances/dask")[0] == 200
