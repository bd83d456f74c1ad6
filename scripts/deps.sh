#!/usr/bin/env bash
# Installs what edask needs to build, test and run the demo, from Debian's
# packages, only when something is missing (apt-get needs root or sudo),
# then makes the project's Python environment .venv/ from
# requirements.lock (exact versions and hashes, from PyPI).  Debian's own
# python3-distributed stays installed: it is the bottom of the supported
# range, tested by make test's compatibility lane.
set -euo pipefail

pkgs=(
	gcc make pkg-config clang libclang-rt-14-dev
	libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libyaml-dev libssl-dev
	libcmocka-dev libsqlite3-dev curl procps
	python3 python3-venv python3-distributed python3-prometheus-client
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

# The project's Python: .venv/ from requirements.lock, remade only when the
# lock changed (its hash is kept in .venv/.lock.sha256).  A failed install
# stops here with pip's own error, which names the package.
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.venv
want=$(sha256sum "$root/requirements.lock" | cut -d' ' -f1)
have=$(cat "$venv/.lock.sha256" 2>/dev/null || true)
if [ "$want" != "$have" ] || [ ! -x "$venv/bin/python" ]; then
	echo "deps: making .venv from requirements.lock (pip, PyPI)"
	rm -rf "$venv"
	/usr/bin/python3 -m venv "$venv"
	if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
	    --no-input --require-hashes --no-deps --only-binary :all: \
	    -r "$root/requirements.lock"; then
		echo "deps: pip could not install requirements.lock into .venv (above: the package and why)" >&2
		rm -rf "$venv"
		exit 1
	fi
	if ! "$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null; then
		"$venv/bin/python" -m pip check --disable-pip-version-check >&2 || true
		echo "deps: .venv is inconsistent (above); fix requirements.in and run scripts/lock.sh" >&2
		rm -rf "$venv"
		exit 1
	fi
	echo "$want" > "$venv/.lock.sha256"
	echo "deps: .venv ready ($("$venv/bin/python" -c 'import distributed, sys; print("distributed", distributed.__version__, "python", sys.version.split()[0])'))"
fi
