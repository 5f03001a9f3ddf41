#!/usr/bin/env bash
# Called by scripts/gpu_run.sh on a lent GPU machine, from the repository root:
#   bash scripts/pack_cut_checkpoints.sh OUT_DIR MARKER_FILE [MAX_KB]
# Packs into OUT_DIR/checkpoints.tgz the checkpoint folders (runs/full/<record key>/ holding last.pt) written
# since MARKER_FILE whose run wrote no record since then (runs a time limit cut off), smallest first while
# they fit MAX_KB (default 15000: one file the device tool returns holds 16 MiB). Extracted here with
# `tar -xzf checkpoints.tgz -C .`, scripts/run_full.py resumes each run from where it stopped. Prints the
# packed folders, one a line.
set -euo pipefail
out=$1 marker=$2 max_kb=${3:-15000}
[ -f "$marker" ] || { echo "no marker file $marker" >&2; exit 2; }
[ -d runs/full ] || exit 0
cut=()
total=0
while read -r size dir; do
    rec="results/full/$(basename "$dir").json"
    if [ -f "$rec" ] && [ "$rec" -nt "$marker" ]; then continue; fi   # finished: its record came back
    [ -f "$dir/last.pt" ] || continue
    [ $(( total + size )) -le "$max_kb" ] || continue
    cut+=("$dir"); total=$(( total + size ))
done < <(find runs/full -mindepth 1 -maxdepth 1 -type d -newer "$marker" -exec du -sk {} + | sort -n)
[ "${#cut[@]}" -gt 0 ] || exit 0
mkdir -p "$out"
tar -czf "$out/checkpoints.tgz" "${cut[@]}"
printf '%s\n' "${cut[@]}"
