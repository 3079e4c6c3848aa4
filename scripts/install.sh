#!/usr/bin/env bash
# One set-up step for a fresh machine: .venv at the repo root with the project, every extra and the tested pins.
#
#   bash scripts/install.sh [--cuda] [--no-apt] [--dry-run]
#
# torch goes first, pinned: the CPU build from PyTorch's CPU wheel index where that index answers, else whatever the
# default index serves for the pin (a machine whose pip points at local wheels gets its CPU build so); --cuda (or
# DSE_TORCH=cuda) takes the CUDA build from the default index instead. Nothing installed later can replace it.
# --no-apt skips the system packages (a C++ compiler, make and perl for Verilator; PostgreSQL for the cluster tests)
# and says what then does not work; --dry-run prints every command instead of running it.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH=torch==2.13.0
CPU_INDEX=${DSE_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}  # or a mirror of it
cuda=${DSE_TORCH:-cpu}
apt=yes
dry_run=no
for option in "$@"; do
    case $option in
        --cuda) cuda=cuda ;;
        --no-apt) apt=no ;;
        --dry-run) dry_run=yes ;;
        *) echo "install.sh: unknown option $option; use --cuda, --no-apt or --dry-run" >&2; exit 2 ;;
    esac
done
if [ "$cuda" != cpu ] && [ "$cuda" != cuda ]; then
    echo "install.sh: DSE_TORCH=$cuda is not allowed; use cpu or cuda" >&2
    exit 2
fi

run() {
    if [ "$dry_run" = yes ]; then echo "$*"; else "$@"; fi
}

PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
[ -x .venv/bin/python ] || run python3 -m venv .venv
if [ "$cuda" = cuda ]; then
    run "${PIP[@]}" "$TORCH"
elif python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)" "$CPU_INDEX/torch/" \
        >/dev/null 2>&1; then
    run "${PIP[@]}" --index-url "$CPU_INDEX" "$TORCH"
else
    echo "note: PyTorch's CPU index ($CPU_INDEX) does not answer; $TORCH comes from the default index" >&2
    run "${PIP[@]}" "$TORCH"
fi
run "${PIP[@]}" -c constraints.txt -e ".[test]"
# finn-plus pins brevitas==0.13.0, which cannot run on torch 2.13 (and cannot co-install with it):
# it goes in without dependencies; pyproject.toml lists the others it needs.
run "${PIP[@]}" --no-deps -c constraints.txt finn-plus

# System packages: Verilator (dse synth --post-synth, the RTL tests) compiles its simulators with a C++ compiler,
# make and perl; the cluster tests start a PostgreSQL server of their own on loopback (Debian's package).
missing=()
if ! command -v c++ >/dev/null || ! command -v make >/dev/null || ! command -v perl >/dev/null; then
    missing+=(g++ make perl)
fi
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    missing+=(postgresql)
fi
if [ ${#missing[@]} -gt 0 ]; then
    without="without them, dse synth --post-synth and the RTL tests cannot simulate (g++, make, perl) and the cluster tests are skipped (postgresql)"
    if [ "$apt" = yes ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing system packages with apt-get: ${missing[*]} (--no-apt skips this; $without)" >&2
        run apt-get update -qq
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    else
        echo "note: not installed: ${missing[*]} (apt-get install ${missing[*]}); $without" >&2
    fi
fi
