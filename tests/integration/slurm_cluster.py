"""A real single-node Slurm cluster on 127.0.0.1 for the tests: slurmctld
and slurmd from Debian's slurm-wlm, started from a test config in a
temporary folder, with four GPUs declared as GRES.  The GPU "devices" are
symlinks to /dev/null: Slurm only needs files to hand out, and it sets each
job's CUDA_VISIBLE_DEVICES from the index of the one it gives.

No munge (auth/none, cred/none) and no accounting: it needs root (slurmd
runs jobs as their user) and starts in about a second.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

GPUS = 4


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def unavailable():
    """Why this machine cannot run the cluster, or None."""
    for cmd in ("slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo"):
        if shutil.which(cmd) is None:
            return "%s is not installed (apt install slurmctld slurmd " \
                   "slurm-client)" % cmd
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs"
    return None


class SlurmCluster:
    def __init__(self, folder):
        self.dir = str(folder)
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        self.procs = []

    def write_config(self):
        d = self.dir
        for sub in ("state", "spool", "log", "dev"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        for i in range(GPUS):
            link = os.path.join(d, "dev", "gpu%d" % i)
            if not os.path.lexists(link):
                os.symlink("/dev/null", link)
        with open(self.conf, "w") as f:
            f.write("""\
ClusterName=edasktest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld}
SlurmdPort={slurmd}
AuthType=auth/none
CredType=cred/none
ProctrackType=proctrack/linuxproc
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
TaskPlugin=task/none
GresTypes=gpu
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
SlurmdParameters=config_overrides
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=edasknode NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=8 \
RealMemory=4000 Gres=gpu:{gpus} State=UNKNOWN
PartitionName=gpu Nodes=edasknode Default=YES MaxTime=INFINITE State=UP \
OverSubscribe=YES
""".format(d=d, ctld=free_port(), slurmd=free_port(), gpus=GPUS))
        with open(os.path.join(d, "gres.conf"), "w") as f:
            f.write("NodeName=edasknode Name=gpu File=%s/dev/gpu[0-%d]\n"
                    % (d, GPUS - 1))

    def start(self, timeout=60):
        self.write_config()
        log = open(os.path.join(self.dir, "log", "daemons.out"), "ab")
        # -i: ignore state a previous run may have saved
        self.procs.append(subprocess.Popen(
            ["slurmctld", "-D", "-i", "-f", self.conf], env=self.env,
            stdout=log, stderr=subprocess.STDOUT))
        self.procs.append(subprocess.Popen(
            ["slurmd", "-D", "-N", "edasknode", "-f", self.conf],
            env=self.env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError("a Slurm daemon exited (%s):\n%s"
                                       % (p.returncode, self.logs()))
            r = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env,
                               capture_output=True, text=True)
            if r.returncode == 0 and r.stdout.strip() == "idle":
                return self
            time.sleep(0.2)
        raise RuntimeError("Slurm node not idle within %ds:\n%s"
                           % (timeout, self.logs()))

    def logs(self):
        out = []
        for name in ("daemons.out", "slurmctld.log", "slurmd.log"):
            p = os.path.join(self.dir, "log", name)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out.append("== %s\n%s" % (name, f.read()[-3000:]))
        return "\n".join(out)

    def jobs(self):
        """Every job squeue --json lists (ended ones too, for a while)."""
        r = subprocess.run(["squeue", "--json"], env=self.env,
                           capture_output=True, text=True, check=True)
        return json.loads(r.stdout)["jobs"]

    def active(self):
        return [j for j in self.jobs()
                if j["job_state"] in ("PENDING", "RUNNING", "CONFIGURING",
                                      "COMPLETING", "SUSPENDED")]

    def cancel_all(self, timeout=60):
        """Cancels every job; waits until none is active any more."""
        subprocess.run(["scancel", "--user", "root"], env=self.env,
                       capture_output=True)
        deadline = time.monotonic() + timeout
        while self.active() and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.active()

    def stop(self):
        left = self.cancel_all()
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return left
