"""Workers as Slurm jobs across hosts: three node hosts in network
namespaces on a bridge (slurm_cluster.py's NetnsNodes), each with its own
address, its own slurmd and two GPUs as GRES; slurmctld, edask and the
scheduler on the host, at the bridge's address.  A worker runs inside its
node's namespace: it listens on its node's address and reaches the
scheduler over the bridge, as on a real cluster."""
import os

import pytest

from conftest import (assert_each_ran_once, check_chunks_sum, client,
                      counted_burst, new_counter_dir, pinned_chunks, spec,
                      wait_for, workers_of)
from slurm_cluster import GPUS_PER_NODE, SlurmCluster, netns_unavailable

NODES = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = netns_unavailable()
    if why is not None:
        if os.environ.get("EDASK_REQUIRE_SLURM") == "1":
            pytest.fail("Slurm tests required here, but: %s" % why)
        pytest.skip("no namespaced Slurm cluster on this machine: %s" % why)
    c = SlurmCluster(tmp_path_factory.mktemp("slurm-nodes"), nodes=NODES)
    c.start()
    yield c
    left = c.stop()
    assert not left, "jobs still active at the end: %s" % left
    assert not c.net.left(), "namespaces or links left: %s" % c.net.left()


@pytest.fixture
def cluster_clean(cluster):
    """No active job before or after (ask for it before `edask`)."""
    assert not cluster.cancel_all()
    yield cluster
    left = cluster.active()
    assert not left, "jobs left behind: %s" % [
        (j["job_id"], j["name"], j["job_state"]) for j in left]


def config(tmp_path, cluster):
    p = tmp_path / "edask.yaml"
    p.write_text("pools:\n"
                 "  - {name: cluster, backend: slurm, slots: %d,\n"
                 "     partition: gpu, time_limit: \"30:00\",\n"
                 "     scheduler_host: %s}\n"
                 % (NODES * GPUS_PER_NODE, cluster.host_addr))
    return str(p)


def test_burst_spreads_over_three_nodes_and_shrinks_without_loss(
        cluster_clean, edask, tmp_path):
    cl = cluster_clean
    addr_of = {name: addr for name, _, addr in cl.net.nodes}
    e = edask(args=["-c", config(tmp_path, cl)], env=cl.env,
              specs=[spec(min=1, max=NODES * GPUS_PER_NODE, gpus=1,
                          idle="4s", delay="1s", start_timeout="60s",
                          extra="pool: cluster\n")])
    e.wait_started()
    # the scheduler listens where the nodes reach it, not on loopback
    assert e.scheduler_address().startswith("tls://%s:" % cl.host_addr)
    e.wait_running(1, timeout=120)

    counter = new_counter_dir(tmp_path)
    c = client(e.scheduler_address())
    try:
        burst = counted_burst(c, counter, 120, resources={"GPU": 1})
        e.wait_running(NODES * GPUS_PER_NODE, timeout=180)
        ws = e.instance()["workers"]
        # two jobs per node, each on its own GPU of that node
        assert sorted(w["node"] for w in ws) == sorted(
            list(addr_of) * GPUS_PER_NODE), ws
        for node in addr_of:
            gpus = sorted(w["job_gpus"] for w in ws if w["node"] == node)
            assert gpus == ["0", "1"], (node, ws)
        # a worker's address is its node's, as the scheduler sees it too
        for w in ws:
            assert w["address"].startswith(
                "tls://%s:" % addr_of[w["node"]]), w
        assert sorted(workers_of(c)) == sorted(w["address"] for w in ws)
        # the pool says which node and GPU each slot's worker is on
        slots = [s for s in e.get("/v1/pool")["pools"][0]["slots"]
                 if s["worker"] is not None]
        assert sorted((s["node"], s["job_gpus"]) for s in slots) == sorted(
            (w["node"], w["job_gpus"]) for w in ws), slots
        out = e.cli("pool").stdout
        for node in addr_of:
            assert out.count(" %s " % node) == GPUS_PER_NODE, out
        assert sum(c.gather(burst)) == sum(range(120))

        # data on every worker of every node, then idle: back to one
        chunks = pinned_chunks(c, counter, NODES * GPUS_PER_NODE, 12,
                               100_000)
        e.wait_running(1, timeout=180)
        wait_for(lambda: len(e.instance()["workers"]) == 1, timeout=60,
                 what="one worker left")
        assert len(e.events(kind="retired")) >= NODES * GPUS_PER_NODE - 1
        check_chunks_sum(c, counter, chunks, 100_000)
    finally:
        c.close()
    assert_each_ran_once(counter, 120 + 12 + 1)
