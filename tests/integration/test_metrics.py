"""GET /metrics in Prometheus text format, checked with a real parser, and
the per-instance history the console charts."""
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import up_with_client


def scrape(e):
    with urllib.request.urlopen(e.url + "/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    return text, fams


def value(fams, family, sample_name, **labels):
    for s in fams[family].samples:
        if s.name == sample_name and all(s.labels.get(k) == v
                                         for k, v in labels.items()):
            return s.value
    raise AssertionError("no sample %s %s" % (sample_name, labels))


def test_metrics_and_history(edask):
    e, c = up_with_client(edask, 3, min=1, max=3, idle="2s", delay="1s",
                          interval="300ms")
    try:
        futs = c.map(lambda i: time.sleep(0.5) or i, range(30), pure=False)
        e.wait_running(3, timeout=60)
        c.gather(futs)
    finally:
        c.close()
    e.wait_running(1, timeout=60)
    text, fams = scrape(e)
    types = {name: f.type for name, f in fams.items()}
    assert types["edask_instance_workers"] == "gauge"
    assert types["edask_instance_desired_workers"] == "gauge"
    assert types["edask_pool_slots"] == "gauge"
    assert types["edask_scale_events"] == "counter"      # _total stripped
    assert types["edask_worker_start_seconds"] == "histogram"
    assert types["edask_decision_seconds"] == "histogram"
    assert types["edask_scheduler_up"] == "gauge"
    assert value(fams, "edask_instance_workers", "edask_instance_workers",
                 instance="dask", state="running") == 1
    assert value(fams, "edask_pool_slots", "edask_pool_slots",
                 pool="local", state="free") == 2
    assert value(fams, "edask_scale_events", "edask_scale_events_total",
                 instance="dask", direction="up") >= 2
    assert value(fams, "edask_scale_events", "edask_scale_events_total",
                 instance="dask", direction="down") >= 2
    assert value(fams, "edask_worker_start_seconds",
                 "edask_worker_start_seconds_count") == 3
    inf = value(fams, "edask_worker_start_seconds",
                "edask_worker_start_seconds_bucket", le="+Inf")
    assert inf == 3
    assert value(fams, "edask_decision_seconds",
                 "edask_decision_seconds_count") > 10
    assert value(fams, "edask_scheduler_up", "edask_scheduler_up",
                 instance="dask") == 1

    hist = e.get("/v1/instances/dask/history")["samples"]
    assert len(hist) > 10
    assert max(s["running"] for s in hist) == 3
    assert hist[-1]["running"] == 1 and hist[-1]["desired"] == 1
    assert max(s["queued"] + s["processing"] for s in hist) > 0
    ts = [s["t_ms"] for s in hist]
    assert ts == sorted(ts)
    later = e.get("/v1/instances/dask/history?since_ms=%d" % ts[-2])["samples"]
    assert [s["t_ms"] for s in later] == [ts[-1]] or later[0]["t_ms"] == ts[-1]
    assert "since_ms" in e.get("/v1/instances/dask/history?since_ms=x",
                               expect=400)["error"]
