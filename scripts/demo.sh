#!/usr/bin/env bash
# make demo: the user journey on this machine.  Starts `edask up` with the
# instance of examples/dask.yaml (simulated GPU slots where this machine
# has no NVIDIA driver), shows its outputs and the one worker it starts
# with, trains distributed XGBoost on a generated flights table against it
# (examples/xgb_train.py), shows the workers arrive with the reason for
# each, waits for the idle ones to be given back, prints a summary, stops.
# At each stage it reads the worker count off Dask's own dashboard and, with
# Debian's chromium, saves a screenshot of its /workers page.
set -euo pipefail
cd "$(dirname "$0")/.."

EDASK=$PWD/build/edask
# the instance's Python (python: auto) and the job's must be one Dask
PY=$PWD/.venv/bin/python
[ -x "$PY" ] || { echo "no .venv: run make deps (make demo does)"; exit 1; }
export EDASK_PYTHON=$PY
state=$(mktemp -d /tmp/edask-demo.XXXXXX)
log=$state/edask.log
pid=""

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	[ -n "${tailpid:-}" ] && kill "$tailpid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Dask's own dashboard, as a browser shows it: the worker count on its
# /workers page and a screenshot of it (tests/browser/dashboard_shot.js,
# Debian's chromium).  Where the scheduler has no bokeh, the scheduler's
# count (/json/counts.json) only.
dashboard() {	# dashboard LABEL
	local n shot=$state/dask-workers-$1.png
	if [ "$has_bokeh" = True ] && n=$(node tests/browser/dashboard_shot.js \
	    "$dash" "$shot" 2>"$state/dashboard_shot.err"); then
		echo "  Dask dashboard $dash/workers shows $n worker(s); screenshot $shot"
		return
	fi
	[ "$has_bokeh" = True ] &&
		echo "  (no screenshot: $(tail -1 "$state/dashboard_shot.err"))"
	n=$(curl -sf "$dash/json/counts.json" | /usr/bin/python3 -c \
	    'import json,sys; print(json.load(sys.stdin)["workers"])' || echo "?")
	echo "  the scheduler has $n worker(s)"
}

field() { /usr/bin/python3 -c 'import json,sys
d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"; }

args=(up -f examples/dask.yaml --listen 127.0.0.1:0 --state-dir "$state/state")
if ! ldconfig -p 2>/dev/null | grep -q 'libnvidia-ml.so.1'; then
	args+=(--gpus 4)
	say "no NVIDIA driver here: 4 simulated GPU slots"
fi

say "edask ${args[*]}"
"$EDASK" "${args[@]}" >"$log" 2>&1 &
pid=$!
tail -n +1 -f "$log" | sed -u 's/^/  edask| /' &
tailpid=$!

for _ in $(seq 600); do
	[ -f "$state/state/api.url" ] && break
	kill -0 "$pid" 2>/dev/null || { echo "edask exited; see $log"; exit 1; }
	sleep 0.1
done
export EDASK_ADDR=$(cat "$state/state/api.url")
for _ in $(seq 1200); do
	st=$("$EDASK" show dask --json | field state)
	[ "$st" = started ] && break
	[ "$st" = error ] && { "$EDASK" show dask; exit 1; }
	sleep 0.1
done
for _ in $(seq 1200); do
	[ "$("$EDASK" show dask --json | field workers_running)" -ge 1 ] && break
	sleep 0.1
done

say "instance started: outputs"
sched=$("$EDASK" show dask --json | field outputs.dask_scheduler_address)
# the instance's TLS credentials and address, for the job's Client()
export DASK_CONFIG=$("$EDASK" show dask --json | field outputs.dask_client_config)
dash=$("$EDASK" show dask --json | field outputs.dask_scheduler_dashboard_address)
has_bokeh=$("$EDASK" show dask --json | field engine.dashboard)
"$EDASK" show dask | sed 's/^/  /'
dashboard start

say "the pool: one worker on one GPU"
"$EDASK" pool | sed 's/^/  /'

say "training: examples/xgb_train.py against $sched (distributed XGBoost)"
start=$(date +%s)
"$PY" examples/xgb_train.py "$sched" --rows "${DEMO_ROWS:-300000}" |
	tee "$state/train.out" | sed -u 's/^/  job| /'
say "the job is done: the workers it grew to"
dashboard peak
peak=$("$EDASK" events dask --json | /usr/bin/python3 -c 'import json,sys,re
n=0
for e in json.load(sys.stdin)["events"]:
    m=re.match(r"\+\d+ -> (\d+) workers", e["message"])
    if e["kind"]=="scale_up" and m: n=max(n,int(m.group(1)))
print(n)')

say "waiting for idle workers to be given back (idle_timeout 10s)"
for _ in $(seq 1200); do
	inst=$("$EDASK" show dask --json)
	n=$(printf '%s' "$inst" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["workers"]))')
	[ "$n" -le 1 ] && break
	sleep 0.5
done
"$EDASK" pool | sed 's/^/  /'
dashboard end

say "the decisions, with their reasons"
"$EDASK" events dask | sed 's/^/  /'

say "summary"
curl -s "$EDASK_ADDR/v1/instances/dask/history" |
	/usr/bin/python3 -c '
import json, sys
res = {}
for line in open(sys.argv[1]):
    if line.startswith("result: "):
        res = json.loads(line[8:])
s = json.load(sys.stdin)["samples"]
# GPU-seconds: workers holding a GPU slot (running, launching, retiring)
# integrated over the ticks of the history
gs = sum((b["t_ms"] - a["t_ms"]) / 1000.0 *
         (a["running"] + a["launching"] + a["retiring"])
         for a, b in zip(s, s[1:]))
span = (s[-1]["t_ms"] - s[0]["t_ms"]) / 1000.0 if len(s) > 1 else 0
t = res.get("timings", {})
print("  peak workers:     %s" % sys.argv[2])
print("  training:         %.1fs (load %.1fs, preprocess %.1fs, train %.1fs, evaluate %.1fs)"
      % (sum(t.values()), t.get("load", 0), t.get("preprocess", 0),
         t.get("train", 0), t.get("evaluate", 0)))
if res:
    print("  accuracy:         %.3f (always \"on time\": %.3f), AUC %.3f"
          % (res["accuracy"], res["majority_rate"], res["auc"]))
print("  GPU-seconds used: %.0f over %.0fs; 4 GPUs held throughout would be %.0f"
      % (gs, span, 4 * span))
' "$state/train.out" "$peak"
echo "  workers now:      $n (min 1)"
echo "  job + scale-down: $(( $(date +%s) - start ))s"

say "stopping edask (SIGTERM)"
kill -TERM "$pid"
wait "$pid"; rc=$?
pid=""
sleep 0.2
echo "  edask exited with status $rc; state and logs in $state"
