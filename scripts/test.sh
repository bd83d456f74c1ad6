#!/usr/bin/env bash
# make test: build (two jobs at a time), unit tests (plain and ASan/UBSan),
# a short libFuzzer pass over every parser, integration tests with real
# Dask (the .venv's) and a real single-node Slurm (most against the daemon
# under ASan/UBSan), and the core elastic tests on Debian's Dask
# 2022.12.1.  Ends with one line "N passed, N failed" over all of them.
set -u
cd "$(dirname "$0")/.."
pass=0 fail=0 failed_steps=()

add() {	# add STEP TALLYFILE STATUS
	local p=0 f=0
	if [ -f "$2" ]; then read -r p f < "$2"; fi
	[ "$3" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	pass=$((pass + p)); fail=$((fail + f))
	[ "$3" -ne 0 ] && failed_steps+=("$1")
}

step() { echo; echo "=== $*"; }

rm -f build/unit.tally build/asan/unit.tally build/integration.tally

step "build (-Werror; the simulator too)"
if make -s -j2 all unit build/sim; then :; else
	echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

step "unit tests"
scripts/run-unit.sh build; add unit build/unit.tally $?

step "unit tests under ASan/UBSan"
make -s -j2 asan; add asan build/asan/unit.tally $?

step "fuzz (${FUZZ_SECONDS:-6}s per parser)"
fz=0 fp=0 ff=0
make -s -j2 fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-6}" || fz=$?
n=$(ls fuzz/fuzz_*.c | wc -l)
if [ "$fz" -eq 0 ]; then fp=$n; else ff=1; fp=$((n - 1)); failed_steps+=(fuzz); fi
pass=$((pass + fp)); fail=$((fail + ff))

# The Slurm tests start a single-node Slurm (tests/integration/
# slurm_cluster.py); as root, with Slurm installed by deps.sh, they must
# run rather than skip.
[ "$(id -u)" -eq 0 ] && export EDASK_REQUIRE_SLURM=1

# The integration tests run against the daemon built with ASan/UBSan: a
# memory error, undefined behaviour or a leak at exit changes its exit
# status, which every test checks.  The XGBoost workload (minutes of
# training that exercises nothing the other tests do not) and the tests
# marked plain (their time goes to a browser or a third Dask cluster, not
# to daemon code) run against the plain build, the one users run.
#
# The Slurm tests go beside the others, in a second pytest: most of their
# time is spent waiting on Slurm (a node declared down after its
# SlurmdTimeout, jobs started and ended by slurmctld's passes), and run
# one after the other the lane took 15 minutes.  Each run has its own
# temporary folder and log; the Slurm run's output is shown after.
step "integration tests (real Dask), daemon under ASan/UBSan; the Slurm ones beside them"
rm -f build/integration-slurm.tally
slurm_tests="tests/integration/test_slurm.py tests/integration/test_slurm_nodes.py"
slurm_tmp=$(mktemp -d /tmp/edask-it-slurm.XXXXXX)
# In a process group of its own, where SIGINT is not ignored (a script's
# background job has it ignored): an interrupted or stopped make test
# sends it SIGINT, so that pytest's fixtures stop the Slurm cluster, its
# namespaces, the daemons and their workers before it exits.
set -m
EDASK_BIN=$PWD/build/asan/edask INTEGRATION_NAME=integration-slurm \
    INTEGRATION_TESTS="$slurm_tests" scripts/run-integration.sh \
    -m "not workload and not plain" --basetemp="$slurm_tmp/t" \
    > /dev/null 2>&1 &
slurm_pid=$!
set +m
trap 'kill -INT -- -"$slurm_pid" 2>/dev/null; wait "$slurm_pid"; exit 130' \
    INT TERM
ignore=()
for t in $slurm_tests; do ignore+=("--ignore=$t"); done
EDASK_BIN=$PWD/build/asan/edask scripts/run-integration.sh \
    -m "not workload and not plain" "${ignore[@]}"
add integration-asan build/integration.tally $?
wait "$slurm_pid"
rc=$?
trap - INT TERM
echo; echo "--- the Slurm tests (run beside the above)"
cat build/integration-slurm.log
add integration-asan-slurm build/integration-slurm.tally $rc
# kept when they failed: the daemons' and Slurm's own logs are in there
if [ "$rc" -eq 0 ]; then rm -rf "$slurm_tmp"; else
	echo "(the Slurm run's files are kept in $slurm_tmp)"; fi

step "integration tests (real Dask), workload and plain tests, plain daemon"
scripts/run-integration.sh -m "workload or plain"
add integration build/integration.tally $?

# The bottom of the supported range: the core elastic tests (marked
# compat: scale up and down, retirement with data kept, restart and
# re-adoption, the change signal, GPU-restricted demand) again with
# Debian's python3-distributed 2022.12.1, against the daemon under
# ASan/UBSan.
step "integration tests on Debian's Dask 2022.12.1 (compatibility lane, ASan/UBSan daemon)"
EDASK_BIN=$PWD/build/asan/edask PYTHON=/usr/bin/python3 \
    scripts/run-integration.sh -m compat
add integration-debian build/integration.tally $?

echo
if [ ${#failed_steps[@]} -gt 0 ]; then
	echo "failed steps: ${failed_steps[*]}"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
