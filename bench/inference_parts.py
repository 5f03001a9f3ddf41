"""Where the BLAS-free inference time goes: scoring vs sorting, fp32 table vs integer codes, side by side.

The paper-setting inference time of :func:`qlib.resources.inference_time` is NumPy ``einsum`` products
(no BLAS) plus a full ``argsort`` per user. This script times the two parts separately for one block of
users against all items of each dataset, for an fp32 table (LightGCN) and for L2Q-GCN_end's summed codes
f(Q) = q(0) + q(1) + q(2) in int16 (the stored form's arithmetic), on the datasets' real item counts with
synthetic values of the right kind (sign codes, Gaussian floats): the parts' costs depend on shapes and
types, not on trained values. Writes results/bench/inference_parts.json (results/smoke/bench with --smoke).

    python bench/inference_parts.py [--datasets ml-1m gowalla yelp2018] [--block 256] [--smoke]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from bench.common import add_output_args, parse_with_output, timeit  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="*", default=["ml-1m", "gowalla", "yelp2018"])
    p.add_argument("--block", type=int, default=256, help="users per timed block (the resources module's block)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--repeat", type=int, default=3)
    add_output_args(p)
    args = parse_with_output(p, argv)
    if args.smoke:
        args.datasets, args.block, args.repeat = ["gowalla-mini"], 32, 1

    from qlib.data import load_dataset
    from qlib.experiment import device_name
    from qlib.record import provenance, write_json

    rng = np.random.default_rng(0)
    rows = []
    for ds in args.datasets:
        n_items = load_dataset(ds).n_items
        codes = lambda n: rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, 3, args.dim)).sum(1, dtype=np.int16)
        forms = {"fp32 table": (rng.standard_normal((args.block, args.dim)).astype(np.float32),
                                rng.standard_normal((args.dim, n_items)).astype(np.float32)),
                 "int16 summed codes": (codes(args.block), codes(n_items).T.copy())}
        for form, (users, items_t) in forms.items():
            scores = np.einsum("ud,di->ui", users, items_t, optimize=False)
            score_s = timeit(lambda: np.einsum("ud,di->ui", users, items_t, optimize=False), repeat=args.repeat)
            sort_s = timeit(lambda: np.argsort(-scores, axis=1), repeat=args.repeat)
            rows.append({"dataset": ds, "n_items": int(n_items), "form": form, "score_s": score_s, "sort_s": sort_s,
                         "total_s": score_s + sort_s, "sort_share": sort_s / (score_s + sort_s)})
    for ds in args.datasets:
        f32, i16 = (next(r for r in rows if r["dataset"] == ds and r["form"] == f) for f in ("fp32 table", "int16 summed codes"))
        i16["total_speedup_vs_fp32"] = f32["total_s"] / i16["total_s"]
        i16["score_speedup_vs_fp32"] = f32["score_s"] / i16["score_s"]
        i16["sort_speedup_vs_fp32"] = f32["sort_s"] / i16["sort_s"]
    out = {"benchmark": "inference_parts", "block_users": args.block, "dim": args.dim, "rows": rows,
           "numpy": np.__version__, "provenance": provenance(device=device_name())}
    path = write_json(out, args.out / f"inference_parts{'_smoke' if args.smoke else ''}.json")
    print(f"{'dataset':12} {'items':>6} {'form':20} {'score s':>8} {'sort s':>8} {'sort share':>10}")
    for r in rows:
        print(f"{r['dataset']:12} {r['n_items']:>6} {r['form']:20} {r['score_s']:>8.3f} {r['sort_s']:>8.3f} "
              f"{r['sort_share']:>10.2f}" + (f"   codes/fp32 total {r['total_speedup_vs_fp32']:.2f}x"
                                              if "total_speedup_vs_fp32" in r else ""))
    print("->", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
