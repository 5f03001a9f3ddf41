"""NeuMF (NeurCF) full-ranking cost by scoring block size, measured side by side in one run.

NeuMF cannot rank by one matrix product: every (user, item) pair goes through the MLP tower. The scorer
(:meth:`qlib.models.NeuMF.scorer`) works on [users, item chunk, hidden] blocks of at most
``NeuMFConfig.score_budget`` elements. This script times scoring the same users against every item with
several budgets and thread counts (same model, same scores: checked), at the L2Q-GCN Table 2 baseline's widths, in the
trainer's evaluation batches of users, and writes
results/bench/neurcf_scoring_<dataset>.json (results/smoke/bench with --smoke).

    python bench/neurcf_scoring.py [--dataset gowalla] [--users 2048] [--threads 1 2] [--smoke]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from bench.common import add_output_args, parse_with_output, timeit  # noqa: E402

BUDGETS = (2 ** 24, 2 ** 22, 2 ** 20, 2 ** 18, 2 ** 16)   # the first one is the scorer's former default


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="gowalla")
    p.add_argument("--users", type=int, default=2048,
                   help="users scored per timing (in the trainer's evaluation batches of TrainConfig.eval_batch_size)")
    p.add_argument("--threads", type=int, nargs="*", default=[1, 2], help="torch thread counts to time")
    add_output_args(p)
    args = parse_with_output(p, argv)
    if args.smoke:
        args.dataset, args.users = "gowalla-mini", 256

    from qlib.catalog import l2q_baseline_experiments
    from qlib.data import load_dataset
    from qlib.experiment import device_name
    from qlib.models import NeuMF
    from qlib.record import provenance, write_json
    from qlib.train import TrainConfig

    data = load_dataset(args.dataset)
    config = next(e.model_config for e in l2q_baseline_experiments(("gowalla",)) if e.method == "NeurCF")
    torch.manual_seed(0)
    model = NeuMF(data.n_users, data.n_items, config)
    users = torch.arange(min(args.users, data.n_users))

    batch = TrainConfig().eval_batch_size

    def score_all() -> torch.Tensor:
        s = model.scorer()
        return torch.cat([s(users[b:b + batch]) for b in range(0, len(users), batch)])

    rows, reference = [], None
    for threads in args.threads:
        torch.set_num_threads(threads)
        for budget in BUDGETS:
            model.config.score_budget = budget
            scores = score_all()
            if reference is None:
                reference = scores
            torch.testing.assert_close(scores, reference, rtol=1e-5, atol=1e-5)   # a block size changes no score
            seconds = timeit(score_all, repeat=2, warmup=0)
            rows.append({"threads": threads, "score_budget": budget, "seconds": seconds,
                         "pairs_per_s": len(users) * data.n_items / seconds})
    for r in rows:
        r["speedup_vs_largest"] = next(b["seconds"] for b in rows if b["threads"] == r["threads"]) / r["seconds"]
    full_ranking_pairs = data.n_users * data.n_items
    out = {"benchmark": "neurcf_scoring", "dataset": args.dataset, "users_timed": len(users), "user_batch": batch,
           "n_items": data.n_items, "model_config": {"gmf_dim": config.gmf_dim, "mlp_dims": list(config.mlp_dims)},
           "full_ranking_pairs": full_ranking_pairs, "rows": rows,
           "provenance": provenance(device=device_name())}
    path = write_json(out, args.out / f"neurcf_scoring_{'smoke' if args.smoke else args.dataset}.json")
    print(f"{'threads':>7} {'score_budget':>12} {'s / %d users' % len(users):>14} {'Mpairs/s':>9} {'speed-up':>8} "
          f"{'one full ranking':>17}")
    for r in rows:
        print(f"{r['threads']:>7} {r['score_budget']:>12} {r['seconds']:>14.2f} {r['pairs_per_s'] / 1e6:>9.2f} "
              f"{r['speedup_vs_largest']:>7.1f}x {full_ranking_pairs / r['pairs_per_s'] / 60:>13.1f} min")
    print("->", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
