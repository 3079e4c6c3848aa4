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
