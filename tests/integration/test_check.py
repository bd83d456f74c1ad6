"""`edask check` and `edask up` on invalid specs: exit 2 with
file:line:col: message, never a crash."""
import os
import re
import subprocess

from conftest import EDASK

CASES = [
    ("unknown key", "name: x\nworkers: {mn: 1}\n", 2, 'unknown key "mn"'),
    ("wrong type", "name: x\nworkers: [1, 2]\n", 2, "workers"),
    ("min > max", "name: x\nworkers: {min: 5, max: 2}\n", 2,
     "workers.min (5) is greater than workers.max (2)"),
    ("bad duration", "name: x\nscaling: {idle_timeout: 3x}\n", 2, 'bad duration "3x"'),
    ("bad size", "name: x\nworkers: {memory: 4QB}\n", 2, 'bad size "4QB"'),
    ("bad name", "name: Bad_Name\n", 1, 'name "Bad_Name" is invalid'),
    ("bad integer", "name: x\nworkers: {min: abc}\n", 2, "workers.min"),
    ("missing name", "workers: {min: 1}\n", 1, 'missing required key "name"'),
    ("yaml syntax", "name: x\nworkers: {min: 1\n", 3, ""),
    ("not a mapping", "- a\n- b\n", 1, ""),
    ("empty", "", 1, ""),
]


def check(tmp_path, text):
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    r = subprocess.run([EDASK, "check", str(p)], capture_output=True,
                       text=True, timeout=30)
    return str(p), r


def test_invalid_specs(tmp_path):
    for what, text, line, msg in CASES:
        path, r = check(tmp_path, text)
        assert r.returncode == 2, (what, r.returncode, r.stderr)
        err = r.stderr.strip()
        m = re.match(re.escape(path) + r":(\d+):(\d+): (.+)$", err)
        assert m, (what, err)
        assert int(m.group(1)) == line, (what, err)
        assert msg in m.group(3), (what, err)


def test_valid_spec_and_missing_file(tmp_path):
    path, r = check(tmp_path, "name: xgb\nworkers: {min: 1, max: 8, gpus: 1}\n"
                    "scaling: {idle_timeout: 30s}\n")
    assert r.returncode == 0 and 'instance "xgb"' in r.stdout, r.stderr
    r = subprocess.run([EDASK, "check", str(tmp_path / "nope.yaml")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "No such file" in r.stderr


def test_check_refuses_what_is_not_a_file(tmp_path):
    """A named pipe would block the read forever: check, check -c, up -f
    and deploy refuse it, and a device, at once."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    for args in (["check", str(fifo)], ["check", "-c", str(fifo)],
                 ["check", "/dev/zero"],
                 ["up", "-f", str(fifo), "--state-dir", str(tmp_path / "s")],
                 ["deploy", str(fifo), "--addr", "http://127.0.0.1:9"]):
        r = subprocess.run([EDASK] + args, capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert "not a regular file" in r.stderr, (args, r.stderr)


def test_up_refuses_invalid_spec(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\nworkers: {min: 5, max: 2}\n")
    r = subprocess.run([EDASK, "up", "-f", str(p), "--listen", "127.0.0.1:0",
                        "--state-dir", str(tmp_path / "st")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "%s:2:" % p in r.stderr, r.stderr
    r = subprocess.run([EDASK, "up", "-f", str(p), "-f", str(p)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
