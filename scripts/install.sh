#!/usr/bin/env bash
# One set-up step for a fresh machine: .venv at the repo root with the project and its pinned dependencies.
# torch goes first, pinned, so nothing later can pull a multi-GB CUDA build in its place.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
