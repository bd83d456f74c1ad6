#!/usr/bin/env bash
# run-fuzz.sh BINARY SEED_CORPUS SECONDS: a short libFuzzer pass starting
# from the committed seeds (the working corpus is a temporary folder).
set -eu
bin=$1 seeds=$2 secs=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fuzz: $(basename "$bin") for ${secs}s"
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 "$work" "$seeds" 2>"$work.log" || {
	tail -60 "$work.log"; rm -f "$work.log"; exit 1; }
grep -E 'stat::number_of_executed_units|Done' "$work.log" | tail -2
rm -f "$work.log"
