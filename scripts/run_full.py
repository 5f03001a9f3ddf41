"""Run full-profile experiments from the catalog in the background, resumably.

Each named group runs its experiments one after another in this process (records land in results/full,
checkpoints under runs/full so a killed run resumes). Running two groups in two processes with one torch
thread each uses a 2-core machine better than one process with two threads (sparse products scale poorly).

    nohup python scripts/run_full.py lightgcn-paper --threads 1 > runs/lightgcn-paper.log 2>&1 &
    python scripts/run_full.py --list
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def groups():
    from qlib import catalog

    return {
        "lightgcn-paper": lambda: catalog.lightgcn_paper_experiments(("gowalla", "yelp2018"), ("paper",)),
        "lightgcn-clean": lambda: catalog.lightgcn_paper_experiments(("gowalla",), ("clean",)),
        "l2q-lightgcn": lambda: catalog.l2q_lightgcn_experiments(("ml-1m", "gowalla", "yelp2018")),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("groups", nargs="*")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--force", action="store_true")
    p.add_argument("--list", action="store_true")
    p.add_argument("--datasets", nargs="*", default=None, help="only these datasets (e.g. to split a group across processes)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    table = groups()
    if args.list or not args.groups:
        print("groups:", ", ".join(table))
        return 0
    import torch

    from qlib.experiment import run_experiment

    if args.threads:
        torch.set_num_threads(args.threads)
    for name in args.groups:
        if name not in table:
            raise SystemExit(f"unknown group {name!r}; choose from {', '.join(table)}")
        for exp in table[name]():
            if args.datasets and exp.dataset not in args.datasets:
                continue
            t0 = time.perf_counter()
            rec = run_experiment(exp, profile="full", seed=args.seed, force=args.force)
            m = rec["metrics"]
            print(f"{exp.paper} / {exp.table} / {exp.dataset} / {exp.protocol}: recall@20 {m['recall@20']:.4f} "
                  f"ndcg@20 {m['ndcg@20']:.4f} ndcg_hits@20 {m['ndcg_hits@20']:.4f} "
                  f"(best epoch {rec['best_epoch']}, {time.perf_counter() - t0:.0f} s) -> {rec['_path']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
