#!/usr/bin/env bash
# run-fuzz.sh BINARY SEED_CORPUS SECONDS|"" [RUNS]: first the hostile
# inputs below, each within the per-input time limit; then a libFuzzer pass
# from the committed seeds (the working corpus is a temporary folder) for
# SECONDS, or, SECONDS empty, until RUNS executions (checked).
set -eu
bin=$1 seeds=$2 secs=$3 runs=${4:-1000000}
limit=2		# seconds per input, fuzzing and hostile inputs alike
work=$(mktemp -d)
trap 'rm -rf "$work" "$work.hostile" "$work.log"' EXIT

# Inputs that cost a parser more than their length would: deep nesting
# (libyaml's scanner takes the square of a flow depth: 100k brackets were
# 11 s), and long lines.  Each must be done within $limit s.
mkdir -p "$work.hostile"
printf '%*s' 100000 '' | tr ' ' '[' > "$work.hostile/deep-brackets"
printf '%*s' 50000 '' | sed 's/ /{a: /g' > "$work.hostile/deep-mappings"
printf 'name: a\nenv: %*s' 60000 '' | tr ' ' '{' > "$work.hostile/deep-env"
printf '%*s' 1000000 '' | tr ' ' 'a' > "$work.hostile/long-line"
yes -- '- a' | head -n 200000 > "$work.hostile/many-lines"
"$bin" -timeout="$limit" -rss_limit_mb=2048 "$work.hostile"/* \
	>"$work.log" 2>&1 || {
	tail -30 "$work.log"
	echo "fuzz: $(basename "$bin"): a hostile input took over ${limit}s" \
	    "or failed (above)"
	exit 1; }

if [ -n "$secs" ]; then
	echo "fuzz: $(basename "$bin") for ${secs}s"
	set -- -max_total_time="$secs"
else
	echo "fuzz: $(basename "$bin") for $runs executions"
	set -- -runs="$runs"
fi
"$bin" "$@" -timeout="$limit" -rss_limit_mb=2048 -print_final_stats=1 \
	"$work" "$seeds" 2>"$work.log" || { tail -60 "$work.log"; exit 1; }
grep -E 'stat::number_of_executed_units|Done' "$work.log" | tail -2
n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log")
if [ -z "$secs" ] && [ "${n:-0}" -lt "$runs" ]; then
	echo "fuzz: $(basename "$bin"): only ${n:-0} of $runs executions"
	exit 1
fi
