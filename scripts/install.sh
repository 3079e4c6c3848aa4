#!/usr/bin/env bash
# One set-up step for a fresh machine: .venv at the repo root with the project and its pinned dependencies.
# torch goes first, pinned, so nothing later can pull a multi-GB CUDA build in its place.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
# finn-plus pins brevitas==0.13.0, which cannot run on torch 2.13 (and cannot co-install with it):
# it goes in without dependencies; pyproject.toml lists the others it needs.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt finn-plus
# Verilator (dse synth --post-synth, tests/synthesis/test_rtl.py) compiles its simulators with a C++ compiler, make and perl.
if ! command -v c++ >/dev/null || ! command -v make >/dev/null || ! command -v perl >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ make perl >/dev/null
    else
        echo "note: Verilator needs g++, make and perl (apt-get install g++ make perl)" >&2
    fi
fi
# The cluster tests start a PostgreSQL server of their own on loopback: Debian's package, where apt can install it.
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        echo "note: PostgreSQL is not installed; tests/dse/test_cluster.py will be skipped (apt-get install postgresql)" >&2
    fi
fi
