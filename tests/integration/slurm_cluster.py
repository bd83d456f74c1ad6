"""A real single-node Slurm cluster on 127.0.0.1 for the tests: slurmctld
and slurmd from Debian's slurm-wlm, started from a test config in a
temporary folder, with four GPUs declared as GRES.  The GPU "devices" are
symlinks to /dev/null: Slurm only needs files to hand out, and it sets each
job's CUDA_VISIBLE_DEVICES from the index of the one it gives.

No munge (auth/none, cred/none) and no accounting: it needs root (slurmd
runs jobs as their user) and starts in about a second.

With `nodes=N` (NetnsNodes) the cluster has N node hosts instead, each in
its own network namespace with its own address on a bridge, its own
slurmd and GPUS_PER_NODE GPUs; slurmctld (and whoever uses the cluster)
stays on the host, at the bridge's address.  Jobs run inside their node's
namespace, so a worker's address is its node's, and it reaches the
scheduler over the bridge.  Everything made is removed by stop(), also
after a failed start.
"""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time

GPUS = 4
GPUS_PER_NODE = 2


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


def netns_unavailable():
    """Why this machine cannot make node namespaces, or None."""
    if shutil.which("ip") is None:
        return "ip (iproute2) is not installed"
    name = "edprobe%s" % secrets.token_hex(3)
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True,
                       text=True)
    if r.returncode != 0:
        return "cannot make a network namespace: %s" % r.stderr.strip()
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


def sh(*argv):
    r = subprocess.run(list(argv), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr.strip()))
    return r.stdout


class NetnsNodes:
    """N namespaces "ed<tag>n<i>" on a bridge "ed<tag>b": the host is
    10.<a>.<b>.1, node i is 10.<a>.<b>.(10 + i), /24.  remove() takes down
    whatever was made, and may be called at any point of make()."""

    def __init__(self, n):
        self.tag = secrets.token_hex(2)
        a, b = secrets.randbelow(200) + 20, secrets.randbelow(250) + 1
        self.prefix = "10.%d.%d" % (a, b)
        self.host_addr = self.prefix + ".1"
        self.bridge = "ed%sb" % self.tag
        self.nodes = [("node%d" % i, "ed%sn%d" % (self.tag, i),
                       "%s.%d" % (self.prefix, 10 + i))
                      for i in range(1, n + 1)]
        self.made_ns = []
        self.made_links = []

    def make(self):
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        self.made_links.append(self.bridge)
        sh("ip", "addr", "add", self.host_addr + "/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for name, ns, addr in self.nodes:
            sh("ip", "netns", "add", ns)
            self.made_ns.append(ns)
            host_end = ns + "h"
            sh("ip", "link", "add", host_end, "type", "veth", "peer",
               "name", "eth0", "netns", ns)
            self.made_links.append(host_end)
            sh("ip", "link", "set", host_end, "master", self.bridge)
            sh("ip", "link", "set", host_end, "up")
            sh("ip", "-n", ns, "addr", "add", addr + "/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "route", "add", "default", "via",
               self.host_addr)
        return self

    def link(self, node, up):
        """A node's own end of its link down or up (its cable cut)."""
        ns = dict((n, s) for n, s, _ in self.nodes)[node]
        sh("ip", "-n", ns, "link", "set", "eth0", "up" if up else "down")

    def remove(self):
        for ns in reversed(self.made_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for link in reversed(self.made_links):
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        self.made_ns, self.made_links = [], []

    def left(self):
        """What of ours the machine still has (for the tests' teardown)."""
        ns = sh("ip", "netns", "list")
        links = sh("ip", "-o", "link", "show")
        return [w for w in ns.split() + links.split()
                if w.rstrip(":").startswith("ed%s" % self.tag)]


class SlurmCluster:
    def __init__(self, folder, nodes=0):
        self.dir = str(folder)
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        self.procs = []
        self.net = NetnsNodes(nodes) if nodes > 0 else None

    @property
    def host_addr(self):
        """Where the nodes reach the host (slurmctld, the schedulers)."""
        return self.net.host_addr if self.net else "127.0.0.1"

    def edask_pool(self, slots, partition="gpu", time_limit="30:00",
                   extra=""):
        """The entry of edask's `pools:` list for a slurm pool "cluster"
        on this cluster, its schedulers at host_addr; extra adds keys
        (" key: value,")."""
        return ("  - {name: cluster, backend: slurm, slots: %d,\n"
                "     partition: %s, time_limit: \"%s\",%s\n"
                "     scheduler_host: %s}\n"
                % (slots, partition, time_limit, extra, self.host_addr))

    def node_lines(self):
        if self.net is None:
            return ("NodeName=edasknode NodeHostname=localhost "
                    "NodeAddr=127.0.0.1 CPUs=8 RealMemory=4000 "
                    "Gres=gpu:%d State=UNKNOWN\n"
                    "PartitionName=gpu Nodes=edasknode Default=YES "
                    "MaxTime=INFINITE State=UP OverSubscribe=YES\n" % GPUS,
                    "NodeName=edasknode Name=gpu File=%s/dev/gpu[0-%d]\n"
                    % (self.dir, GPUS - 1))
        nodes = "".join(
            "NodeName=%s NodeHostname=%s NodeAddr=%s CPUs=4 "
            "RealMemory=2000 Gres=gpu:%d State=UNKNOWN\n"
            % (name, name, addr, GPUS_PER_NODE)
            for name, _, addr in self.net.nodes)
        names = ",".join(name for name, _, _ in self.net.nodes)
        # a node cut off is DOWN after 10 s, not Slurm's default 5 min;
        # a job of partition urgent (a higher tier) preempts the gpu
        # partition's jobs it needs the GPUs of, which Slurm requeues
        return ("SlurmdTimeout=10\n"
                "PreemptType=preempt/partition_prio\nPreemptMode=REQUEUE\n"
                + nodes +
                "PartitionName=gpu Nodes=%s Default=YES MaxTime=INFINITE "
                "State=UP OverSubscribe=YES PriorityTier=1\n"
                "PartitionName=urgent Nodes=%s MaxTime=INFINITE State=UP "
                "PriorityTier=10\n" % (names, names),
                "".join("NodeName=%s Name=gpu File=%s/dev/gpu[0-%d]\n"
                        % (name, self.dir, GPUS_PER_NODE - 1)
                        for name, _, _ in self.net.nodes))

    def write_config(self):
        d = self.dir
        for sub in ("state", "spool", "log", "dev"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        for i in range(max(GPUS, GPUS_PER_NODE)):
            link = os.path.join(d, "dev", "gpu%d" % i)
            if not os.path.lexists(link):
                os.symlink("/dev/null", link)
        nodes, gres = self.node_lines()
        with open(self.conf, "w") as f:
            f.write("""\
ClusterName=edasktest
SlurmctldHost=localhost({host})
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
SlurmdSpoolDir={d}/spool/%n
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.%n.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.%n.log
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
SlurmdParameters=config_overrides
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
""".format(d=d, ctld=free_port(), slurmd=free_port(), host=self.host_addr)
                    + nodes)
        with open(os.path.join(d, "gres.conf"), "w") as f:
            f.write(gres)

    def node_names(self):
        return ([name for name, _, _ in self.net.nodes] if self.net
                else ["edasknode"])

    def start(self, timeout=60):
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout):
        if self.net is not None:
            self.net.make()
        self.write_config()
        for name in self.node_names():
            os.makedirs(os.path.join(self.dir, "spool", name), exist_ok=True)
        log = open(os.path.join(self.dir, "log", "daemons.out"), "ab")
        # -i: ignore state a previous run may have saved
        self.slurmctld = subprocess.Popen(
            ["slurmctld", "-D", "-i", "-f", self.conf], env=self.env,
            stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(self.slurmctld)
        self.slurmd = {}
        for name in self.node_names():
            self.slurmd[name] = self.start_slurmd(name, log)
        log.close()
        want = ["idle"] * len(self.node_names())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError("a Slurm daemon exited (%s):\n%s"
                                       % (p.returncode, self.logs()))
            r = subprocess.run(["sinfo", "-h", "-N", "-p", "gpu", "-o", "%T"],
                               env=self.env, capture_output=True, text=True)
            if r.returncode == 0 and r.stdout.split() == want:
                return self
            time.sleep(0.2)
        raise RuntimeError("Slurm nodes not idle within %ds:\n%s"
                           % (timeout, self.logs()))

    def start_slurmd(self, name, log):
        """slurmd of node `name`, in its namespace when there are some
        (nsenter, not `ip netns exec`, which mounts a new /sys without the
        cgroup file system slurmd needs; it execs: the pid is slurmd's)."""
        argv = ["slurmd", "-D", "-N", name, "-f", self.conf]
        if self.net is not None:
            ns = dict((n, s) for n, s, _ in self.net.nodes)[name]
            argv = ["nsenter", "--net=/run/netns/%s" % ns] + argv
        p = subprocess.Popen(argv, env=self.env, stdout=log,
                             stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def kill_slurmd(self, name):
        """SIGKILL to node `name`'s slurmd: its jobs' processes go on."""
        p = self.slurmd[name]
        p.kill()
        p.wait()

    def preempt(self, name, gpus=GPUS_PER_NODE):
        """Submits another user's job to partition urgent that wants
        `gpus` GPUs of node `name`: Slurm preempts the gpu partition's
        jobs holding them (PreemptMode=REQUEUE: ended and queued again).
        Returns its job id; scancel it when done."""
        r = subprocess.run(
            ["sbatch", "--parsable", "-p", "urgent", "-w", name,
             "--gres=gpu:%d" % gpus, "-J", "urgent", "-o", "/dev/null",
             "--wrap", "sleep 600"],
            env=self.env, capture_output=True, text=True, check=True)
        return int(r.stdout.strip().split(";")[0])

    def restart_slurmd(self, name):
        with open(os.path.join(self.dir, "log", "daemons.out"), "ab") as log:
            self.slurmd[name] = self.start_slurmd(name, log)

    def restart_slurmctld(self, crash=False, timeout=60):
        """Stops slurmctld (SIGTERM: it saves its state and exits, as on
        an admin's restart; crash: SIGKILL, so what it had not saved yet
        is lost), then starts a new one that recovers the saved state (no
        -i).  Returns once it answers again."""
        if crash:
            self.slurmctld.kill()
        else:
            self.slurmctld.terminate()
        self.slurmctld.wait(timeout=timeout)
        with open(os.path.join(self.dir, "log", "daemons.out"), "ab") as log:
            self.slurmctld = subprocess.Popen(
                ["slurmctld", "-D", "-f", self.conf], env=self.env,
                stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(self.slurmctld)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run(["sinfo", "-h"], env=self.env,
                               capture_output=True, text=True)
            if r.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("slurmctld not back within %ds:\n%s"
                           % (timeout, self.logs()))

    def logs(self):
        out = []
        names = ["daemons.out", "slurmctld.log"] + [
            "slurmd.%s.log" % n for n in self.node_names()]
        for name in names:
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
        left = self.cancel_all() if self.procs else []
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []
        if self.net is not None:
            self.net.remove()
        return left
