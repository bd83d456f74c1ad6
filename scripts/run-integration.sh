#!/usr/bin/env bash
# Integration tests: pytest against the real binary in build/.  The Python
# that runs pytest is the Dask every instance runs too (the tests pass it
# to edask as EDASK_PYTHON): the project's .venv by default, or the one in
# $PYTHON (the compatibility lane: PYTHON=/usr/bin/python3, Debian's
# 2022.12).  Writes build/integration.tally (or INTEGRATION_NAME's).
set -u
mkdir -p build
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$root/.venv/bin/python}
# INTEGRATION_NAME names the log and tally (build/NAME.log, .tally) and
# INTEGRATION_TESTS what pytest runs, so that two runs can go side by side
name=${INTEGRATION_NAME:-integration}
log=build/$name.log
# tee -i: an interrupted pytest still writes its teardown to the log
# shellcheck disable=SC2086
"$py" -m pytest -p no:cacheprovider -q -rfE --durations=10 \
    ${INTEGRATION_TESTS:-tests/integration} "$@" 2>&1 | tee -i "$log"
rc=${PIPESTATUS[0]}
line=$(grep -E '^(=+ )?[0-9]+ (passed|failed)|no tests ran' "$log" | tail -1)
pass=$(printf '%s' "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
fail=$(printf '%s' "$line" | grep -oE '[0-9]+ (failed|error|errors)' | awk '{s += $1} END {print s + 0}')
pass=${pass:-0}; fail=${fail:-0}
[ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
echo "$pass $fail" > "build/$name.tally"
exit "$rc"
