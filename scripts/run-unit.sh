#!/usr/bin/env bash
# Runs every unit test binary in build folder $1 and prints a tally line
# "unit(<folder>): N passed, N failed" from cmocka's own counts.
set -u
B=${1:-build}
export LD_LIBRARY_PATH="$PWD/$B/fakenvml${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export EDASK_TEST_FAKENVML_DIR="$PWD/$B/fakenvml"
pass=0 fail=0 rc=0
for t in "$B"/test_*; do
	[ -x "$t" ] || continue
	out=$("$t" 2>&1); st=$?
	printf '%s\n' "$out" | grep -E '^\[  (FAILED|  ERROR)|^\[  FAILED' || true
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	p=${p:-0}; f=${f:-0}
	if [ "$st" -ne 0 ] && [ "$f" -eq 0 ]; then
		# crashed (sanitizer report, abort): count it and show why
		printf '%s\n' "$out" | tail -30
		f=1
	fi
	echo "  $(basename "$t"): $p passed, $f failed"
	pass=$((pass + p)); fail=$((fail + f))
	[ "$st" -ne 0 ] && rc=1
done
echo "unit($B): $pass passed, $fail failed"
echo "$pass $fail" > "$B/unit.tally"
exit $rc
