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
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
