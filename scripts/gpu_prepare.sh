#!/usr/bin/env bash
# Run here, before using a lent GPU machine (the `device` tool): puts beside the working tree what that
# machine lacks, in folders git ignores, to be named in the tool's `carry`:
#   .whl/      wheels of the packages its image does not hold (pymetis for LEGCF's METIS, pooch), Python 3.12
#   .devdata/  the benchmark files (the ../shared beside this checkout does not travel), ~20 MB
# Then, in one `run` call:   bash scripts/gpu_run.sh SECONDS GROUP [GROUP ...] [run_full.py options]
# with QLIB_CODE_STATE=<this checkout's commit> set in the command (see scripts/gpu_run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
pin() { grep -i "^$1==" requirements.txt; }
mkdir -p .whl .devdata
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
    "$(pin pymetis)" "$(pin pooch)" "$(pin platformdirs)"
src=${QLIB_DATA_DIR:-../shared/data}
[ -d "$src" ] || { echo "no data directory at $src; set QLIB_DATA_DIR" >&2; exit 1; }
cp -r "$src"/. .devdata/
du -sh .whl .devdata
echo "carry: [\".whl\", \".devdata\"]   QLIB_CODE_STATE=$(git rev-parse HEAD)$(git diff --quiet HEAD -- . || echo +dirty)"
