"""Workers as Slurm jobs across hosts: three node hosts in network
namespaces on a bridge (slurm_cluster.py's NetnsNodes), each with its own
address, its own slurmd and two GPUs as GRES; slurmctld, edask and the
scheduler on the host, at the bridge's address.  A worker runs inside its
node's namespace: it listens on its node's address and reaches the
scheduler over the bridge, as on a real cluster."""
import contextlib
import re
import subprocess

import pytest

from conftest import (assert_each_ran_once, check_chunks_sum,
                      client_once_started, counted_burst, executions,
                      metric_value, pinned_chunks, spec, wait_for,
                      workers_of)
from slurm_cluster import GPUS_PER_NODE

NODES = 3      # the slurm fixture's node hosts (conftest.py)


def config(tmp_path, cluster):
    p = tmp_path / "edask.yaml"
    p.write_text("pools:\n" + cluster.edask_pool(NODES * GPUS_PER_NODE))
    return str(p)


def four_workers(e, c, counter):
    """A first burst grows the instance to four workers; returns them,
    the node that holds two of them (the victim) and those two."""
    first = counted_burst(c, counter, 40, prefix="a", resources={"GPU": 1})
    e.wait_running(4, timeout=180)
    assert sum(c.gather(first)) == sum(range(40))
    ws = e.instance()["workers"]
    by_node = {}
    for w in ws:
        by_node.setdefault(w["node"], []).append(w)
    victim, lost = max(by_node.items(), key=lambda kv: len(kv[1]))
    assert len(lost) == 2, by_node
    return ws, victim, lost


def four_busy_workers(e, c, counter, tasks):
    """four_workers, then a second burst of `tasks` counted GPU tasks
    ("b-I") to keep them busy; returns four_workers' three and the
    burst's futures."""
    ws, victim, lost = four_workers(e, c, counter)
    burst = counted_burst(c, counter, tasks, prefix="b",
                          resources={"GPU": 1})
    return ws, victim, lost, burst


def wait_replaced(e, ws, victim):
    """Four running again, two of them new, none on the victim node."""
    def replaced():
        run = e.running()
        new = [w for w in run if w["id"] not in {x["id"] for x in ws}]
        return run if len(run) == 4 and len(new) == 2 else None
    run = wait_for(replaced, timeout=150, what="two replacements")
    assert victim not in {w["node"] for w in run}, run


def wait_settled(e, c, cl):
    """No ghost: the scheduler's workers are edask's, and every active job
    is one of edask's workers."""
    def settled():
        mine = {w["address"] for w in e.running()}
        jobs = {j["job_id"] for j in cl.active()}
        ids = {w["job_id"] for w in e.instance()["workers"]}
        return set(workers_of(c)) == mine and jobs <= ids
    wait_for(settled, timeout=120, what="no ghost worker, no stray job")


@contextlib.contextmanager
def up_to_four(cl, edask, tmp_path, env=""):
    """An instance of min 1, max 4 on the cluster, started with one
    worker; gives it, a counter folder and a client, closed on
    leaving."""
    e = edask(args=["-c", config(tmp_path, cl)], env=cl.env,
              specs=[spec(min=1, max=4, gpus=1, idle="120s", delay="1s",
                          start_timeout="60s",
                          extra="pool: cluster\n" + env)])
    with client_once_started(e, tmp_path, timeout=120) as (counter, c):
        yield e, counter, c


def test_burst_spreads_over_three_nodes_and_shrinks_without_loss(
        slurm_clean, edask, tmp_path):
    cl = slurm_clean
    addr_of = {name: addr for name, _, addr in cl.net.nodes}
    e = edask(args=["-c", config(tmp_path, cl)], env=cl.env,
              specs=[spec(min=1, max=NODES * GPUS_PER_NODE, gpus=1,
                          idle="4s", delay="1s", start_timeout="60s",
                          extra="pool: cluster\n")])
    with client_once_started(e, tmp_path, timeout=120) as (counter, c):
        # the scheduler listens where the nodes reach it, not on loopback
        assert e.scheduler_address().startswith("tls://%s:" % cl.host_addr)

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
    assert_each_ran_once(counter, 120 + 12 + 1)


def test_a_node_cut_off_loses_its_workers_which_are_replaced(
        slurm_clean, edask, tmp_path):
    """The link of a node holding workers goes down mid-burst: the
    scheduler loses them (worker-ttl 5 s here, Dask's default is 5 min),
    edask says so naming the node and counts the results that were only
    there, cancels their jobs and replaces them on the other nodes while
    demand remains.  Link back up: no ghost worker, no job edask does not
    account for."""
    cl = slurm_clean
    ttl = "env:\n  DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL: 5s\n"
    with up_to_four(cl, edask, tmp_path, env=ttl) as (e, counter, c):
        ws, victim, lost = four_workers(e, c, counter)
        # two results only on each worker (held: the futures are kept)
        chunks = pinned_chunks(c, counter, 4, 8, 100_000)
        lost_ids = {w["id"] for w in lost}
        keys0 = metric_value(e, "edask_lost_worker_keys_total",
                             '{instance="dask",copies="none"}') or 0

        burst = counted_burst(c, counter, 160, prefix="b",
                              resources={"GPU": 1})
        wait_for(lambda: all(w["busy_tasks"] > 0 for w in e.running()),
                 timeout=60, what="every worker busy")
        try:
            cl.net.link(victim, False)

            def told():
                evs = [ev for ev in e.events(kind="worker_lost")
                       if ev["message"].split()[1] in lost_ids]
                return evs if len(evs) == 2 else None
            evs = wait_for(told, timeout=90, what="two worker_lost events")
            for ev in evs:
                assert "on %s) left the scheduler" % victim in \
                    ev["message"], ev
                # its two chunks at least, 800 kB each
                m = re.search(r"it held (\d+) results? "
                              r"\(([\d.]+) ([KMG]iB|B)\), "
                              r"(\d+) of them nowhere else", ev["message"])
                assert m and int(m.group(4)) >= 2, ev
                assert m.group(3) == "MiB" and float(m.group(2)) >= 1.5, ev
            keys1 = metric_value(e, "edask_lost_worker_keys_total",
                                 '{instance="dask",copies="none"}')
            assert keys1 - keys0 >= 4, (keys0, keys1)

            # replaced on the other nodes while the burst goes on
            wait_replaced(e, ws, victim)
            assert sum(c.gather(burst)) == sum(range(160))
            # the chunks of the other nodes' workers are still held, the
            # victim's are gone (pinned to it: nothing recomputes them)
            held = [k for k, ws in c.who_has(chunks).items() if ws]
            assert len(held) == 4, c.who_has(chunks)
        finally:
            cl.net.link(victim, True)

        wait_settled(e, c, cl)
        assert not [ev for ev in e.events(kind="worker_lost")
                    if ev["message"].split()[1] not in lost_ids], \
            e.events(kind="worker_lost")


def test_a_scheduler_host_the_nodes_cannot_reach_is_named(
        slurm_clean, edask, tmp_path):
    """scheduler_host 127.0.0.1 on a cluster whose nodes are other hosts:
    each node's 127.0.0.1 is its own.  The first worker's job fails at
    once with an event that names the address tried and the node, and
    launches back off, instead of workers that never register."""
    cl = slurm_clean
    p = tmp_path / "edask.yaml"
    p.write_text("pools:\n"
                 "  - {name: cluster, backend: slurm, slots: 2,\n"
                 "     partition: gpu, scheduler_host: 127.0.0.1}\n")
    e = edask(args=["-c", str(p)], env=cl.env,
              specs=[spec(min=1, max=2, gpus=1, start_timeout="60s",
                          extra="pool: cluster\n")])
    e.wait_started()
    port = e.scheduler_address().rsplit(":", 1)[1]
    fails = wait_for(lambda: e.events(kind="worker_failed"), timeout=60,
                     what="a worker_failed event")
    msg = fails[0]["message"]
    assert "before the worker registered; failure 1, next launch in" in msg
    assert ("edask: cannot reach the scheduler at 127.0.0.1:%s from node "
            "node" % port) in msg, msg
    assert "Connection refused" in msg, msg
    assert not e.events(kind="registered")


def test_slurmd_killed_on_a_node_ends_with_the_right_workers(
        slurm_clean, edask, tmp_path):
    """slurmd of a node holding two of four workers is killed mid-burst:
    its jobs' processes go on, but Slurm marks the node down (after
    SlurmdTimeout, 10 s here) and ends its jobs.  edask replaces them on
    the other nodes, and their workers, still connected, do not stay in
    the scheduler as workers edask no longer knows.  slurmd back: no job
    edask does not account for, nothing lost."""
    cl = slurm_clean
    with up_to_four(cl, edask, tmp_path) as (e, counter, c):
        # long enough that demand remains once Slurm has ended the
        # node's jobs (SlurmdTimeout and a listing later; the victim's
        # workers compute until then): 240 tasks were not
        ws, victim, lost, burst = four_busy_workers(e, c, counter, 480)
        lost_addrs = {w["address"] for w in lost}
        try:
            cl.kill_slurmd(victim)
            wait_replaced(e, ws, victim)
            # the victim's workers left the scheduler
            wait_for(lambda: not lost_addrs & set(workers_of(c)),
                     timeout=60,
                     what="the lost workers out of the scheduler")
            assert sum(c.gather(burst)) == sum(range(480))
        finally:
            cl.restart_slurmd(victim)
        wait_settled(e, c, cl)


@pytest.mark.parametrize("crash", [False, True], ids=["restart", "crash"])
def test_slurmctld_restarted_mid_scale_up(slurm_clean, edask, tmp_path,
                                          crash):
    """slurmctld goes away while a burst's jobs are being submitted and
    comes back with its saved state: edask rides out the refused listings
    and submissions and ends with the workers the burst wants, and every
    job Slurm has is one edask accounts for.  Stopped as an admin's
    restart does, it loses nothing and nothing is recomputed.  Killed, it
    may lose the jobs it had not saved and take a running one back to
    PENDING and end its processes: if that costs recomputed results, a
    worker_lost event and the lost-keys metric say so."""
    cl = slurm_clean
    with up_to_four(cl, edask, tmp_path) as (e, counter, c):
        burst = counted_burst(c, counter, 240, resources={"GPU": 1})
        wait_for(lambda: e.events(kind="scale_up")[1:], timeout=60,
                 what="the burst's scale-up")
        cl.restart_slurmctld(crash=crash)
        e.wait_running(4, timeout=180)
        assert sum(c.gather(burst)) == sum(range(240))
        wait_settled(e, c, cl)
        ids = [w["job_id"] for w in e.instance()["workers"]]
        assert len(ids) == len(set(ids)) == 4, e.instance()["workers"]
    if not crash:
        assert_each_ran_once(counter, 240)
        return
    twice = sum(1 for m in executions(counter).values() if m > 1)
    told = metric_value(e, "edask_lost_worker_keys_total",
                        '{instance="dask",copies="none"}') or 0
    # the count is what the scheduler lost as it removed the worker
    # (edask's preload notes it then): the client holds every result, so
    # each is recomputed; the task it was running is recomputed too,
    # uncounted, so the count is a floor; a recomputation always has its
    # event
    lost = e.events(kind="worker_lost")
    assert twice >= told, (twice, told, lost)
    assert twice == 0 or lost, (twice, told)


def test_a_preempted_job_is_replaced_and_not_run_twice(slurm_clean, edask,
                                                       tmp_path):
    """Another user's job in a higher-tier partition takes a node that
    holds two of four workers: Slurm preempts their jobs (PreemptMode=
    REQUEUE ends them and queues them again).  edask says so, cancels the
    requeued jobs (Slurm would start a second copy of each worker later),
    counts what was lost and replaces the workers on the other nodes while
    demand remains: the burst ends on four workers, every job Slurm lists
    is edask's or the preemptor's, and no requeued job comes back."""
    cl = slurm_clean
    with up_to_four(cl, edask, tmp_path) as (e, counter, c):
        ws, victim, lost, burst = four_busy_workers(e, c, counter, 200)
        lost_jobs = {w["job_id"] for w in lost}
        urgent = None
        try:
            urgent = cl.preempt(victim)
            wait_replaced(e, ws, victim)
            assert sum(c.gather(burst)) == sum(range(200))
            # the preemptor runs where the workers were
            wait_for(lambda: [j for j in cl.active() if j["job_id"] == urgent
                              and j["job_state"] == "RUNNING"], timeout=60,
                     what="the urgent job running")
            said = " ".join(ev["message"] for ev in
                            e.events(kind="worker_lost") +
                            e.events(kind="job_requeued"))
            for w in lost:
                assert "worker %s " % w["id"] in said, (w, said)

            def settled():
                jobs = {j["job_id"] for j in cl.active()} - {urgent}
                ids = {w["job_id"] for w in e.instance()["workers"]}
                return (set(workers_of(c)) == {w["address"]
                                               for w in e.running()}
                        and jobs <= ids and not jobs & lost_jobs)
            wait_for(settled, timeout=120,
                     what="no requeued job left, no ghost worker")
            assert len(e.running()) == 4
        finally:
            if urgent is not None:
                subprocess.run(["scancel", str(urgent)], env=cl.env)
    # what the workers held as the scheduler removed them: the burst's
    # results only (the first burst's were released before), each
    # recomputed, as is a task cut short, uncounted
    twice = sum(1 for m in executions(counter).values() if m > 1)
    told = metric_value(e, "edask_lost_worker_keys_total",
                        '{instance="dask",copies="none"}') or 0
    assert twice >= told, (twice, told)
