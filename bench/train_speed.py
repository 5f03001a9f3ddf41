"""Benchmark: time to Recall@20 >= target, the fast recipe vs the paper recipe, in one invocation.

See :mod:`qlib.speed` for what is run and how the paper recipe's time is extrapolated when it does not
reach the target within its budget. Prints a small table and writes results/bench/train_speed_<ds>_<dev>.json.

    python bench/train_speed.py                      # gowalla, target 0.175 (issue 3's benchmark)
    python bench/train_speed.py --smoke              # seconds, embedded dataset (tests)
    python bench/train_speed.py --device cuda        # the same on a GPU (writes train_speed_gowalla_cuda.json)

The extrapolation needs a long enough prefix of the paper recipe's curve: applied to prefixes of the curve
measured to the target on a GPU (chapter "Training speed"), it overestimates the epochs needed about 2x from
20 epochs and is within about 20% from 50 on. On a 2-core CPU (about a minute per paper-recipe epoch on
Gowalla) that means ``--paper-budget 3600 --paper-eval-every 5`` or more; the default budget gives a bound
and a rough figure only.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import add_output_args, parse_with_output  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="gowalla")
    p.add_argument("--target", type=float, default=0.175, help="test Recall@20 to reach")
    p.add_argument("--fast-budget", type=float, default=900.0, help="wall-time budget of the fast recipe (s)")
    p.add_argument("--paper-budget", type=float, default=1200.0, help="wall-time budget of the paper recipe (s)")
    p.add_argument("--fast-eval-every", type=int, default=10)
    p.add_argument("--paper-eval-every", type=int, default=1)
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--device", default="cpu", help="cpu, cuda[:i] or auto (a CUDA GPU when torch sees one)")
    add_output_args(p)
    args = parse_with_output(p, argv)
    if args.smoke:
        args.dataset, args.target, args.fast_budget, args.paper_budget = "gowalla-mini", 0.05, 20.0, 20.0

    from qlib.devices import resolve_device
    from qlib.record import write_json
    from qlib.speed import compare_recipes

    try:
        device = resolve_device(args.device)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    result = compare_recipes(args.dataset, args.target, args.fast_budget, args.paper_budget,
                             args.fast_eval_every, args.paper_eval_every, args.seed, str(device))
    result["smoke"] = args.smoke
    fast, paper, speed = result["recipes"]["fast"], result["recipes"]["paper"], result["speedup"]
    tag = "smoke" if args.smoke else args.dataset
    path = args.out / f"train_speed_{tag}_{device.type}.json"
    write_json(result, path)

    print(f"{'recipe':8} {'epochs':>6} {'s/epoch':>8} {'to target (s)':>14} {'best R@20':>9} {'peak MiB':>9}"
          + (f" {'GPU MiB':>8}" if device.type == "cuda" else ""))
    for r in (fast, paper):
        ttt = r["time_to_target_s"] if r["time_to_target_s"] is not None else r.get("estimated_time_to_target_s")
        mark = "" if r["time_to_target_s"] is not None else " (est.)"
        print(f"{r['recipe']:8} {r['epochs']:>6} {r['per_epoch_train_s']:>8.1f} "
              f"{(f'{ttt:.0f}' + mark) if ttt else 'n/a':>14} {r['best_recall@20']:>9.4f} {r['peak_rss_mib']:>9.0f}"
              + (f" {r['peak_gpu_mib']:>8.0f}" if device.type == "cuda" else ""))
    print("speed-up:", json.dumps({k: round(v, 1) for k, v in speed.items()}), "->", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
