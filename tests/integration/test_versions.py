"""The supported range of Dask versions: a Python without distributed, or
with one older than the range, is refused at deploy with the version
found; one newer than the newest tested runs, with a warning event.

The versions come from package metadata (edask never imports distributed
to ask), so a fake dist-info first on PYTHONPATH stands for another Dask
while the real one still runs the scheduler and workers."""
from conftest import PYTHON, spec


def python_claiming(tmp_path, version):
    """A python whose metadata says distributed VERSION."""
    site = tmp_path / ("site-" + version)
    info = site / ("distributed-%s.dist-info" % version)
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\n"
                                   "Name: distributed\nVersion: %s\n"
                                   % version)
    py = tmp_path / ("python-" + version)
    py.write_text('#!/bin/sh\nPYTHONPATH=%s${PYTHONPATH:+:$PYTHONPATH} '
                  'exec %s "$@"\n' % (site, PYTHON))
    py.chmod(0o755)
    return str(py)


def test_no_dask_or_too_old_refused_at_deploy(edask, tmp_path):
    e = edask(serve=True)
    old = python_claiming(tmp_path, "2021.1.0")
    st, r = e.request("POST", "/v1/instances",
                      ("name: old\npython: %s\n" % old).encode())
    assert st == 400, r
    assert ('python "%s" has distributed 2021.1.0, older than the oldest '
            'edask supports (2022.12.1; tested up to' % old) in r["error"], r
    bare = tmp_path / "python-no-site"
    bare.write_text('#!/bin/sh\nexec %s -S "$@"\n' % PYTHON)
    bare.chmod(0o755)
    st, r = e.request("POST", "/v1/instances",
                      ("name: bare\npython: %s\n" % bare).encode())
    assert st == 400, r
    assert "has no Dask distributed installed" in r["error"], r
    assert "(Python 3." in r["error"], r
    assert e.get("/v1/instances")["instances"] == []


def test_newer_than_tested_runs_with_a_warning(edask, tmp_path):
    new = python_claiming(tmp_path, "2099.1.0")
    e = edask(args=["--gpus", "1"],
              specs=[spec(min=1, max=1, extra="python: %s\n" % new)])
    e.wait_started()
    inst = e.wait_running(1)
    assert inst["engine"]["distributed"] == "2099.1.0", inst["engine"]
    msgs = [v["message"] for v in e.events(kind="version")]
    assert len(msgs) == 1, msgs
    assert msgs[0].startswith("distributed 2099.1.0 is newer than the "
                              "newest edask is tested with ("), msgs
    assert msgs[0].endswith("): running it"), msgs
    engine = e.events(kind="engine")[0]["message"]
    assert engine.startswith("distributed 2099.1.0 (Python 3."), engine
