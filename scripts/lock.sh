#!/usr/bin/env bash
# Resolves requirements.in into requirements.lock: exact versions and the
# hashes of every file PyPI serves for them, for Debian 12's Python (3.11).
# A maintainer's step, run by hand when the pins should move; deps.sh only
# installs from the lock.  Needs uv (pip install uv).
set -euo pipefail
cd "$(dirname "$0")/.."
uv pip compile --quiet --generate-hashes --python-version 3.11 \
    --python-platform x86_64-manylinux_2_36 --no-header \
    --custom-compile-command scripts/lock.sh \
    requirements.in -o requirements.lock
sed -i '1i # Made by scripts/lock.sh from requirements.in: do not edit by hand.' \
    requirements.lock
