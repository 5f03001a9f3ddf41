"""Learning rate of the fast recipe for L2Q-GCN, checked on VALIDATION data only.

The fast recipe (batch 262,144, Adam, cosine decay) was tuned on LightGCN; a binarised model trained through a
straight-through estimator may want a different step size. Each learning rate is trained under the ``clean``
protocol (validation carved from the training data; the test split is never read) and its validation
Recall@20 curve recorded. Writes results/bench/tune_l2q_<dataset>_<variant>.json; runs of later invocations
are merged in, so learning rates can be split across processes.

    python bench/tune_l2q.py --dataset ml-1m --variant end --lrs 0.1 0.01 --epochs 100 --threads 1
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="ml-1m")
    p.add_argument("--variant", default="end", choices=("end", "anl"))
    p.add_argument("--dim", type=int, default=None, help="c = d (default: the paper's per-dataset value)")
    p.add_argument("--lrs", type=float, nargs="+", default=[0.1, 0.01])
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=None, help="default: the fast recipe's")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--smoke", action="store_true", help="embedded dataset, 2 epochs (tests)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    out_dir = args.out or REPO / "results" / ("smoke/bench" if args.smoke else "bench")

    import torch

    from qlib.catalog import l2q_config
    from qlib.data import load_dataset
    from qlib.experiment import device_name
    from qlib.graph import build_norm_adj
    from qlib.models import L2QGCN
    from qlib.recipes import EMBEDDED_DATASET, fast_recipe
    from qlib.record import provenance, write_json
    from qlib.train import fit, seed_everything

    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = EMBEDDED_DATASET if args.smoke else args.dataset
    epochs = 2 if args.smoke else args.epochs
    cfg = l2q_config(args.dataset, args.variant)
    if args.dim:
        cfg.emb_dim = cfg.code_dim = args.dim
    data = load_dataset(dataset, protocol="clean", seed=2020)
    adj = build_norm_adj(data.train)
    path = out_dir / f"tune_l2q_{args.dataset}_{args.variant}.json"
    result = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    for lr in args.lrs:
        train = fast_recipe(lr=lr, epochs=epochs, eval_every=1 if args.smoke else 10, select_split="valid",
                            progress=False, compile=not args.smoke)
        if args.batch_size:
            train = replace(train, batch_size=args.batch_size)
        key = f"lr={lr:g}" + (f",batch={train.batch_size}" if args.batch_size else "")
        seed_everything(2020)
        model = L2QGCN(adj, data.n_users, data.n_items, cfg)
        t0 = time.perf_counter()
        res = fit(model, data, train)
        result["runs"][key] = {
            "lr": lr, "epochs": epochs, "batch_size": train.batch_size, "best_epoch": res.best_epoch, "best_valid": res.select_metrics,
            "final_valid_recall@20": [r for r in res.history if "valid_recall@20" in r][-1]["valid_recall@20"],
            "history": res.history, "wall_time_s": time.perf_counter() - t0}
        print(f"{key}: best valid recall@20 {res.best_value:.4f} at epoch {res.best_epoch}", flush=True)
    result.update({"dataset": dataset, "variant": args.variant, "model": asdict(cfg), "protocol": "clean",
                   "recipe": "fast_recipe with the learning rate varied", "provenance": provenance(device=device_name())})
    write_json(result, path)
    print("->", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
