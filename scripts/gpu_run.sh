#!/usr/bin/env bash
# Run ON a lent GPU machine (the `device` tool), from the repository root of the copy it received, after
# scripts/gpu_prepare.sh here and with `.whl` and `.devdata` carried:
#   QLIB_CODE_STATE=<commit> bash scripts/gpu_run.sh SECONDS JOB [:: JOB ...]
# where each JOB is the arguments of one scripts/run_full.py process (groups and options, e.g.
# `l2q-layers --seed 2020`). Jobs separated by `::` run side by side on the GPU (small graph models leave
# most of it idle; GPU_RUN_THREADS CPU threads each, default 16 / number of jobs). Installs the carried
# wheels, parses the data once, runs the jobs for at most SECONDS, then packs every record written
# meanwhile into $OUT/records.tgz (extract it here with `tar -xzf ... -C .`), the jobs' logs into
# $OUT/logs.tgz and a summary into $OUT/run.log. Experiments already recorded in results/full are loaded,
# not rerun; an experiment cut off by the time limit returns its checkpoint in $OUT/checkpoints.tgz where
# it fits (16 MiB for all of them, smallest first), so that run_full.py resumes it here; larger ones stay
# on that machine and are lost, so size SECONDS and the jobs to fit.
set -uo pipefail
budget=$1; shift
out=${OUT:-/tmp/gpu_run_out}
mkdir -p "$out"
[ -n "${QLIB_CODE_STATE:-}" ] || [ -d .git ] || { echo "set QLIB_CODE_STATE=<commit> (no .git here)" >&2; exit 2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 3
export PYTHONPATH="/tmp/site:$PWD" QLIB_DATA_DIR="$PWD/.devdata" PYTHONHASHSEED=0 PYTHONUNBUFFERED=1 MPLBACKEND=Agg

# split the arguments into jobs at each `::`
jobs=() current=""
for arg in "$@"; do
    if [ "$arg" = "::" ]; then jobs+=("$current"); current=""; else current+="$(printf '%q ' "$arg")"; fi
done
jobs+=("$current")
threads=${GPU_RUN_THREADS:-$(( 16 / ${#jobs[@]} > 0 ? 16 / ${#jobs[@]} : 1 ))}

marker=$(mktemp)
logs=$(mktemp -d)
start=$SECONDS
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$out/run.log" 2>&1
# parse the data once, so parallel jobs do not race to build the same cache
timeout 120 python3 -c "from qlib.data import load_dataset
for name in ('gowalla', 'yelp2018', 'ml-1m'):
    load_dataset(name)" >> "$out/run.log" 2>&1
remaining=$(( budget - (SECONDS - start) ))
pids=()
for i in "${!jobs[@]}"; do
    echo "job $i: run_full.py ${jobs[$i]}(--threads $threads, ${remaining}s)" >> "$out/run.log"
    eval "timeout --signal=INT $remaining python3 scripts/run_full.py ${jobs[$i]} --threads $threads \
        --device ${GPU_RUN_DEVICE:-cuda}" > "$logs/job$i.log" 2>&1 &
    pids+=($!)
done
for i in "${!pids[@]}"; do
    wait "${pids[$i]}"; echo "job $i: run_full exit status $?" >> "$out/run.log"
done
mapfile -t new < <(find results/full -name '*.json' -newer "$marker")
if [ "${#new[@]}" -gt 0 ]; then tar -czf "$out/records.tgz" "${new[@]}"; fi
tar -czf "$out/logs.tgz" -C "$logs" .
# checkpoints of the runs the time limit cut off, where they fit one returned file (scripts/pack_cut_checkpoints.sh)
mapfile -t cut < <(bash scripts/pack_cut_checkpoints.sh "$out" "$marker" "${GPU_RUN_CKPT_KB:-15000}")
if [ "${#cut[@]}" -gt 0 ]; then
    echo "checkpoints of ${#cut[@]} unfinished run(s) in checkpoints.tgz: ${cut[*]}" >> "$out/run.log"
fi
echo "${#new[@]} new record(s) in $(( SECONDS - start ))s" | tee -a "$out/run.log"
