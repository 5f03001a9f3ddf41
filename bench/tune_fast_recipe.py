"""How the fast recipe was chosen: a learning-rate / schedule (and L2 factor) sweep on VALIDATION data only.

LightGCN (d = 64, L = 3) on Gowalla under the ``clean`` protocol (10 % of each user's training items held
out as validation; the test split is never read). Each configuration is trained and its validation
Recall@20 curve recorded; the chosen recipe is the best final validation Recall@20 among those that fit
the 10-minute budget. Writes results/bench/tune_fast_recipe_<dataset>.json; runs of a later invocation
(``--configs``) are merged into it, so the grid can be split across processes.

    python bench/tune_fast_recipe.py [--dataset gowalla] [--threads 1] [--configs 5 6] [--smoke]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: LightGCN's L2 factor lambda in the paper (and in every run recorded before the sweep varied it)
from qlib.catalog import LIGHTGCN_PAPER_REG as PAPER_REG  # noqa: E402


class Config(NamedTuple):
    batch: int
    lr: float
    schedule: str
    epochs: int
    compile: bool           # torch.compile of the loss
    every: int              # evaluate every
    reg: float = PAPER_REG  # LightGCN's L2 factor lambda


GRID = [
    Config(65536, 1e-2, "constant", 30, False, 5),
    Config(65536, 2e-2, "constant", 30, False, 5),
    Config(65536, 5e-2, "constant", 30, False, 5),
    Config(65536, 5e-2, "cosine", 60, False, 5),
    Config(65536, 5e-2, "cosine", 120, False, 5),
    Config(131072, 5e-2, "cosine", 160, True, 10),
    Config(262144, 5e-2, "cosine", 200, True, 10),
    Config(262144, 1e-1, "cosine", 200, True, 10),
    Config(262144, 1e-1, "cosine", 400, True, 10),
    Config(131072, 5e-2, "cosine", 400, True, 10),  # Yelp2018: twice the steps per epoch at the same epochs
    Config(262144, 2e-1, "cosine", 400, True, 10),  # Yelp2018: a larger step at the same cost
    Config(262144, 5e-2, "cosine", 400, True, 10),  # Yelp2018: a smaller step at the same cost
    Config(262144, 1e-1, "cosine", 400, True, 10, reg=1e-5),  # Yelp2018: a tenth of the L2 factor
    Config(262144, 1e-1, "cosine", 400, True, 10, reg=1e-3),  # Yelp2018: ten times the L2 factor
    Config(262144, 1e-1, "cosine", 400, True, 10, reg=2e-4),  # Yelp2018: twice the L2 factor (between 1e-4 and 1e-3)
    Config(262144, 1e-1, "cosine", 400, True, 10, reg=5e-4),  # Yelp2018: five times the L2 factor
]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="gowalla")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--configs", type=int, nargs="*", default=None, help="indices into GRID (default: all)")
    p.add_argument("--merge", type=Path, default=None, help="merge the runs of this result file (no training)")
    p.add_argument("--out", type=Path, default=None, help="default: results/bench (results/smoke/bench with --smoke)")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = REPO / "results" / ("smoke/bench" if args.smoke else "bench")

    import torch

    from qlib.data import load_dataset
    from qlib.experiment import device_name
    from qlib.graph import build_norm_adj
    from qlib.models import LightGCN, LightGCNConfig
    from qlib.record import provenance, write_json
    from qlib.train import TrainConfig, fit, seed_everything

    if args.threads:
        torch.set_num_threads(args.threads)
    grid = [GRID[i] for i in args.configs] if args.configs else GRID
    if args.smoke:
        grid = [c._replace(batch=4096, epochs={30: 2, 60: 3, 120: 4, 160: 4, 200: 4, 400: 4}[c.epochs], compile=False,
                           every=1) for c in grid[:5]]
    dataset = "gowalla-mini" if args.smoke else args.dataset
    if not args.merge:
        data = load_dataset(dataset, protocol="clean", seed=2020)
        adj = build_norm_adj(data.train)
    runs = json.loads(args.merge.read_text())["runs"] if args.merge else []
    for c in ([] if args.merge else grid):
        seed_everything(2020)
        model = LightGCN(adj, data.n_users, data.n_items, LightGCNConfig(dim=64, n_layers=3, reg=c.reg))
        cfg = TrainConfig(epochs=c.epochs, batch_size=c.batch, lr=c.lr, lr_schedule=c.schedule, eval_every=c.every,
                          compile=c.compile, select_split="valid", select_metric="recall@20", seed=2020, progress=False)
        t0 = time.perf_counter()
        res = fit(model, data, cfg)
        runs.append({"batch_size": c.batch, "lr": c.lr, "lr_schedule": c.schedule, "epochs": c.epochs,
                     "compile": c.compile, "reg": c.reg,
                     "wall_time_s": time.perf_counter() - t0, "best_valid_recall@20": res.best_value,
                     "final_valid_recall@20": res.history[-1]["valid_recall@20"],
                     "curve": [{"epoch": h["epoch"], "wall_time_s": h["wall_time_s"], "valid_recall@20": h["valid_recall@20"]}
                               for h in res.history if "valid_recall@20" in h]})
        print(f"batch {c.batch} lr {c.lr} {c.schedule:8} {c.epochs:4} epochs reg {c.reg:g} compile={c.compile}: valid R@20 final {runs[-1]['final_valid_recall@20']:.4f} "
              f"best {res.best_value:.4f} ({runs[-1]['wall_time_s']:.0f} s)", flush=True)
    path = args.out / f"tune_fast_recipe_{'smoke' if args.smoke else dataset}.json"
    key = lambda r: (r["batch_size"], r["lr"], r["lr_schedule"], r["epochs"], r.get("compile", False),  # noqa: E731
                     r.get("reg", PAPER_REG))
    if path.exists():  # merge with the runs of earlier invocations
        fresh = {key(r) for r in runs}
        runs = [r for r in json.loads(path.read_text())["runs"] if key(r) not in fresh] + runs
    runs.sort(key=key)
    best = max(runs, key=lambda r: r["final_valid_recall@20"])
    out = {"benchmark": "tune_fast_recipe", "dataset": dataset, "protocol": "clean (validation only)",
           "runs": runs, "chosen": {k: best.get(k, False) for k in ("batch_size", "lr", "lr_schedule", "epochs", "compile")}
           | {"reg": best.get("reg", PAPER_REG)},
           "chosen_by": "highest final validation Recall@20", "provenance": provenance(device=device_name())}
    path = write_json(out, path)
    print("chosen:", out["chosen"], "->", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
