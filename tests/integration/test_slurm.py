"""Workers as Slurm jobs, against a real single-node Slurm with four GPUs
as GRES (slurm_cluster.py): one job at start, a burst grows the instance
to four running jobs (each worker with its own CUDA_VISIBLE_DEVICES) and a
fifth that stays pending, idle shrinks it with the pending job cancelled
and the running ones retired through the scheduler (nothing computed
twice), and a controller killed with -9 re-adopts its running jobs."""
import os
import subprocess
from datetime import datetime

from conftest import (PYTHON, assert_each_ran_once, check_chunks_sum,
                      client, client_once_started, counted_burst,
                      pinned_chunks, spec, wait_for, workers_of)


def config(tmp_path, slurm, slots=5, local=False, time_limit="30:00",
           extra="", partition="gpu"):
    p = tmp_path / "edask.yaml"
    p.write_text("pools:\n%s%s"
                 % (slurm.edask_pool(slots, partition, time_limit, extra),
                    "  - {name: local, backend: local, gpus: 1}\n"
                    if local else ""))
    return str(p)


def workers(e, name="dask"):
    return e.instance(name)["workers"]


def ours(slurm, prefix="edask.dask."):
    return [j for j in slurm.jobs() if j["name"].startswith(prefix)]


def test_burst_four_jobs_fifth_pending_idle_shrinks_without_loss(
        slurm_clean, edask, tmp_path):
    slurm = slurm_clean
    e = edask(args=["-c", config(tmp_path, slurm)], env=slurm.env,
              specs=[spec(min=1, max=5, gpus=1, idle="4s", delay="1s",
                          start_timeout="6s", extra="pool: cluster\n")])
    with client_once_started(e, tmp_path) as (counter, c):
        (w1,) = workers(e)
        jobs = ours(slurm)
        assert [j["job_id"] for j in jobs] == [w1["job_id"]]
        assert jobs[0]["job_state"] == "RUNNING"
        assert jobs[0]["comment"].endswith(":dask:%s" % w1["id"][1:])
        pool = e.get("/v1/pool")
        assert pool["kind"] == "slurm" and pool["size"] == 5

        burst = counted_burst(c, counter, 80, resources={"GPU": 1})
        # four GPUs: four jobs run, the fifth waits for resources
        e.wait_running(4, timeout=90, exact=False)

        def fifth_pending():
            ws = workers(e)
            pend = [w for w in ws if w["job_state"] == "PENDING"]
            return len(ws) == 5 and len(pend) == 1 and pend[0]
        pending = wait_for(fifth_pending, timeout=60, what="a pending job")
        assert pending["state"] == "launching"
        assert pending["job_reason"] == "Resources"
        gpus = c.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
        assert sorted(gpus.values()) == ["0", "1", "2", "3"], gpus
        # TLS, and each job listens on the address its node reaches the
        # scheduler by (loopback here), not on every interface
        assert all(a.startswith("tls://127.0.0.1:") for a in gpus), gpus
        # past start_timeout it is reported, not duplicated
        wait_for(lambda: e.events(kind="pending"), timeout=30,
                 what="the pending event")
        told = e.events(kind="pending")[-1]["message"]
        assert "w%s" % pending["id"][1:] in told and "Resources" in told
        assert len(e.events(kind="submitted")) == 5
        assert sum(c.gather(burst)) == sum(range(80))

        # data on each of the four running workers
        chunks = pinned_chunks(c, counter, 4, 8, 100_000)

        # idle: the pending job is cancelled, the running ones retired
        e.wait_running(1, timeout=120)
        wait_for(lambda: len(workers(e)) == 1, timeout=60,
                 what="one worker left")
        cancelled = e.events(kind="cancel")
        assert len(cancelled) == 1, e.events()
        assert "w%s" % pending["id"][1:] in cancelled[0]["message"]
        assert len(e.events(kind="retired")) >= 3
        byid = {j["job_id"]: j for j in slurm.jobs()}
        assert byid[pending["job_id"]]["job_state"] == "CANCELLED"
        # it never ran: no job_running event names it
        assert not [ev for ev in e.events(kind="job_running")
                    if ev["message"].startswith("worker w%s:"
                                                % pending["id"][1:])]
        # cancelled jobs complete in Slurm's own time (COMPLETING)
        wait_for(lambda: len(slurm.active()) == 1, timeout=60,
                 what="one active job left")

        check_chunks_sum(c, counter, chunks, 100_000)
    assert_each_ran_once(counter, 80 + 8 + 1)


def test_kill_9_then_restart_readopts_jobs_and_cancels_orphans(
        slurm_clean, edask, tmp_path):
    slurm = slurm_clean
    # a local pool beside the slurm one (listed first, as the daemon's
    # first pool is the local one)
    e = edask(args=["-c", config(tmp_path, slurm, local=True)], env=slurm.env,
              specs=[spec(min=2, max=2, gpus=1, extra="pool: cluster\n")])
    e.wait_started()
    e.wait_running(2, timeout=90)
    pools = e.get("/v1/pool")["pools"]
    assert [(p["name"], p["kind"], p["size"], p["free"]) for p in pools] \
        == [("local", "simulated", 1, 1), ("cluster", "slurm", 5, 3)]
    before = {w["id"]: (w["job_id"], w["address"]) for w in workers(e)}
    with open(os.path.join(e.state, "daemon.id")) as f:
        daemon = f.read().strip()
    # a job with this daemon's tag but no worker record: what a crash
    # between sbatch and the record leaves behind
    orphan = subprocess.run(
        ["sbatch", "--parsable", "--job-name=edask.dask.99",
         "--comment=edask:%s:dask:99" % daemon, "--output=/dev/null",
         "--wrap", "sleep 300"],
        env=slurm.env, capture_output=True, text=True, check=True)
    orphan_id = int(orphan.stdout.strip().split(";")[0])

    e.proc.kill()
    e.proc.wait()
    e.start()
    wait_for(lambda: e.events(kind="restored"), what="restored")
    assert "2 worker(s) re-adopted" in e.events(kind="restored")[-1]["message"]
    wait_for(lambda: e.events(kind="orphan"), timeout=30, what="orphan")
    assert str(orphan_id) in e.events(kind="orphan")[-1]["message"]
    wait_for(lambda: orphan_id not in [j["job_id"] for j in slurm.active()],
             timeout=30, what="the orphan job cancelled")

    after = {w["id"]: (w["job_id"], w["address"]) for w in workers(e)}
    assert after == before
    assert all(w["state"] == "running" and w["job_state"] == "RUNNING"
               for w in workers(e))
    running = sorted(j["job_id"] for j in slurm.active())
    assert running == sorted(j for j, _ in before.values())
    # still the same two workers in the scheduler; the ticks since the
    # restart (several, while the orphan was found) submitted nothing
    assert len(e.running()) == 2
    assert len(e.events(kind="submitted")) == 2
    c = client(e.scheduler_address())
    try:
        assert sorted(workers_of(c)) == sorted(
            a for _, a in before.values())
    finally:
        c.close()

    # a job that ends on its own (here cancelled behind edask's back, as a
    # node failure or the time limit would end it) is noticed and its
    # worker replaced, since min is 2
    victim_id, (victim_job, _) = sorted(before.items())[0]
    subprocess.run(["scancel", str(victim_job)], env=slurm.env, check=True)
    # seen first either in the job listing ("job N CANCELLED") or as
    # gone from the scheduler, whichever looks first
    wait_for(lambda: [ev for ev in e.events(kind="worker_lost")
                      if ev["message"].startswith("worker %s " % victim_id)
                      or ev["message"].startswith("worker %s:" % victim_id)],
             timeout=30, what="the lost worker")
    e.wait_running(2, timeout=90)
    now = {w["id"]: w["job_id"] for w in workers(e)}
    assert victim_id not in now and victim_job not in now.values()
    wait_for(lambda: len(slurm.active()) == 2, timeout=60,
             what="two active jobs")


def test_a_job_near_its_time_limit_is_retired_with_its_data_first(
        slurm_clean, edask, tmp_path):
    """time_limit 1:00 and retire_before_limit 45s: some 15 s after its job
    starts, the worker is drained and retired through the scheduler, its
    data moved to a replacement that came first; Slurm never ends the job
    with the data (no worker_lost, no TIMEOUT), nothing is computed twice."""
    slurm = slurm_clean
    e = edask(args=["-c", config(tmp_path, slurm, time_limit="1:00",
                                 extra=" retire_before_limit: 45s,")],
              env=slurm.env,
              specs=[spec(min=1, max=2, gpus=1, idle="60s", delay="1s",
                          start_timeout="60s", extra="pool: cluster\n")])
    with client_once_started(e, tmp_path) as (counter, c):
        (w1,) = workers(e)
        chunks = pinned_chunks(c, counter, 1, 3, 100_000)
        ev = wait_for(lambda: e.events(kind="expiring"), timeout=60,
                      what="the expiring event")[0]
        assert ev["message"].startswith(
            "worker %s (dask-%s) (job %d on edasknode): its time_limit 1:00 "
            "ends in " % (w1["id"], w1["id"], w1["job_id"])), ev
        assert "retire_before_limit 45s" in ev["message"], ev

        def retired():
            return [x for x in e.events(kind="retired")
                    if x["message"].startswith("worker %s " % w1["id"])]
        wait_for(retired, timeout=60, what="w1 retired")
        # its replacement holds the data now
        (w2,) = e.running()
        assert w2["id"] != w1["id"], w2
        holders = {w for ws in c.who_has(chunks).values() for w in ws}
        assert holders == {w2["address"]}, holders
        check_chunks_sum(c, counter, chunks, 100_000)
    assert not e.events(kind="worker_lost"), e.events(kind="worker_lost")
    byid = {j["job_id"]: j for j in slurm.jobs()}
    assert byid[w1["job_id"]]["job_state"] != "TIMEOUT", byid[w1["job_id"]]
    assert_each_ran_once(counter, 3 + 1)


def test_sbatch_refusing_the_job_is_one_event_with_slurms_words(
        slurm_clean, edask, tmp_path):
    """A pool whose partition Slurm does not have: each refused sbatch is
    one worker_failed event quoting Slurm's own message, the launches
    back off (1 s, 2 s, 4 s...: no tight loop of submissions), and the
    instance stays started with its scheduler up, no job left behind."""
    slurm = slurm_clean
    e = edask(args=["-c", config(tmp_path, slurm, slots=2,
                                 partition="nosuch")],
              env=slurm.env,
              specs=[spec(min=1, max=2, gpus=1, start_timeout="60s",
                          extra="pool: cluster\n")])
    e.wait_started()
    fails = wait_for(lambda: e.events(kind="worker_failed")[2:] and
                     e.events(kind="worker_failed"), timeout=60,
                     what="three worker_failed events")
    for n, ev in enumerate(fails[:3], 1):
        assert ("sbatch failed: sbatch: error: Batch job submission "
                "failed: Invalid partition name specified") in \
            ev["message"], ev
        assert "failure %d, next launch in %ds" % (n, 2 ** (n - 1)) in \
            ev["message"], ev
    # one submission per attempt, spaced by the backoff
    ts = [datetime.fromisoformat(ev["time"]) for ev in fails[:3]]
    assert (ts[1] - ts[0]).total_seconds() >= 0.9, ts
    assert (ts[2] - ts[1]).total_seconds() >= 1.9, ts
    assert e.instance()["state"] == "started"
    assert not e.instance()["workers"]
    assert not [j for j in slurm.active()], slurm.active()


def test_a_job_about_to_register_is_not_cancelled_nor_stood_in_for(
        slurm_clean, edask, tmp_path):
    """Workers that take 10 s from their job's start to registering (a
    slow node): a short burst asks for a second worker, whose job starts
    at once; the burst is over long before it registers, and the first
    worker sits idle past idle_timeout meanwhile.  The job that is about
    to register is not cancelled (its start is nearly paid), and the idle
    worker is not retired in its place: it stays until the second one is
    there, so the scheduler never has no worker.  Then one of the two
    goes, as demand no longer wants it, with nothing lost.  (The old
    scaler counted the launching job toward the floor and retired the
    idle worker at once.)"""
    slurm = slurm_clean
    slow = tmp_path / "slow-worker.sh"
    slow.write_text("#!/bin/sh\nsleep 10\nexec \"$@\"\n")
    slow.chmod(0o755)
    e = edask(args=["-c", config(tmp_path, slurm, slots=2)], env=slurm.env,
              specs=[spec(min=1, max=2, gpus=1, idle="2s", delay="3s",
                          start_timeout="60s",
                          workers="command: %s %s -m "
                          "distributed.cli.dask_worker" % (slow, PYTHON),
                          extra="pool: cluster\n")])
    with client_once_started(e, tmp_path, timeout=120) as (counter, c):
        (w1,) = workers(e)
        chunks = pinned_chunks(c, counter, 1, 2, 100_000)
        # 3 s of work: the second job is asked for and starts (Slurm
        # has a free GPU) well within the burst and scale_down_delay
        burst = counted_burst(c, counter, 6, resources={"GPU": 1})
        assert sum(c.gather(burst)) == sum(range(6))
        ws = wait_for(lambda: (lambda w: len(w) == 2 and w)(workers(e)),
                      timeout=30, what="a second job")
        (w2,) = [w for w in ws if w["id"] != w1["id"]]
        wait_for(lambda: [x for x in e.events(kind="registered")
                          if x["message"].split()[1] == w2["id"]],
                 timeout=90, what="the second worker registered")
        # one of the two goes (the one idle longer, its data moved)
        wait_for(lambda: len(workers(e)) == 1, timeout=60,
                 what="one worker left")
        check_chunks_sum(c, counter, chunks, 100_000)
    assert_each_ran_once(counter, 2 + 6 + 1)
    evs = e.events()
    assert not [x for x in evs if x["kind"] == "cancel"], evs
    seq_of = {}
    for x in evs:
        if x["kind"] in ("registered", "retire"):
            seq_of.setdefault((x["kind"], x["message"].split()[1]),
                              x["seq"])
    # w1 retired, if it was, only once w2 had registered
    w2_up = seq_of[("registered", w2["id"])]
    w1_out = seq_of.get(("retire", w1["id"]))
    assert w1_out is None or w1_out > w2_up, evs
