#!/usr/bin/env bash
# Installs what edask needs to build, test and run the demo, from Debian's
# packages, only when something is missing (apt-get needs root or sudo).
set -euo pipefail

pkgs=(
	gcc make pkg-config clang libclang-rt-14-dev
	libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libyaml-dev
	libcmocka-dev libsqlite3-dev curl procps
	python3 python3-distributed python3-prometheus-client
	python3-pytest python3-requests
	python3-xgboost python3-sklearn python3-pandas python3-matplotlib
	python3-nbclient python3-nbformat python3-ipykernel python3-notebook
	chromium
	slurmctld slurmd slurm-client
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
# node and npm may come from elsewhere than Debian: ask for them only when
# the commands are missing
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -q >/dev/null
	$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
	echo "deps: done"
fi

# playwright-core drives the chromium above in the console's browser test;
# it downloads no browser of its own.
browser="$(dirname "$0")/../tests/browser"
if [ ! -d "$browser/node_modules/playwright-core" ]; then
	echo "deps: npm ci in tests/browser (playwright-core)"
	(cd "$browser" && npm ci --no-audit --no-fund --loglevel=error)
fi
