#!/usr/bin/env bash
# Run ON a lent GPU machine (the `device` tool), from the repository root of the copy it received, after
# scripts/gpu_prepare.sh here and with `.whl` and `.devdata` carried:
#   QLIB_CODE_STATE=<commit> bash scripts/gpu_run.sh SECONDS GROUP [GROUP ...] [run_full.py options]
# Installs the carried wheels, runs scripts/run_full.py on the GPU for at most SECONDS, then packs every
# record written meanwhile into $OUT/records.tgz (extract it here with `tar -xzf ... -C .`) and the log
# into $OUT/run.log. Experiments already recorded in results/full are loaded, not rerun; an experiment cut
# off by the time limit is lost (checkpoints stay on that machine), so size SECONDS and the groups to fit.
set -uo pipefail
budget=$1; shift
out=${OUT:-/tmp/gpu_run_out}
mkdir -p "$out"
[ -n "${QLIB_CODE_STATE:-}" ] || [ -d .git ] || { echo "set QLIB_CODE_STATE=<commit> (no .git here)" >&2; exit 2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 3
export PYTHONPATH="/tmp/site:$PWD" QLIB_DATA_DIR="$PWD/.devdata" PYTHONHASHSEED=0 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
marker=$(mktemp)
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$out/run.log" 2>&1
timeout --signal=INT "$budget" python3 scripts/run_full.py "$@" --device "${GPU_RUN_DEVICE:-cuda}" >> "$out/run.log" 2>&1
echo "run_full exit status $?" >> "$out/run.log"
mapfile -t new < <(find results/full -name '*.json' -newer "$marker")
if [ "${#new[@]}" -gt 0 ]; then tar -czf "$out/records.tgz" "${new[@]}"; fi
echo "${#new[@]} new record(s)" | tee -a "$out/run.log"
