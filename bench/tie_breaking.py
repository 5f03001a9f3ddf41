"""How far the Table 2 metrics of a code model move with the rule that breaks tied scores.

The inner product of two 128-bit sign codes takes 129 values, so a user's top 20 often ends inside a group
of items with equal scores (:mod:`qlib.ties`). This script loads a recorded full-profile run (its selected
weights on this machine; it never trains at ``full``), profiles the ties at the top-20 cut and evaluates the
test split under every tie rule: ``as-is`` (``torch.topk``, what the record used), ``low-index``
(TensorFlow's ``top_k``), ``random`` (several seeds), and the ``optimistic``/``pessimistic`` bounds, plus an
upper bound of the hits-only NDCG@20 over every order of ties (:func:`qlib.ties.hits_ndcg_upper_bound`).
Writes results/bench/tie_breaking.json (results/smoke/bench/tie_breaking_smoke.json with --smoke, which
trains the smoke model on the embedded data).

    python bench/tie_breaking.py [--datasets gowalla ml-1m] [--methods HashGNN] [--random-seeds 3] [--smoke]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import add_output_args, parse_with_output, recorded_runs  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="*", default=["gowalla", "ml-1m"])
    p.add_argument("--methods", nargs="*", default=["HashGNN"])
    p.add_argument("--random-seeds", type=int, default=3, help="seeds of the random tie rule")
    p.add_argument("--seed", type=int, default=2020, help="the recorded run's training seed")
    add_output_args(p)
    args = parse_with_output(p, argv)
    profile = "smoke" if args.smoke else "full"
    if args.smoke:
        args.datasets, args.random_seeds = args.datasets[:1], 1

    import torch

    from qlib.catalog import L2Q_KS
    from qlib.experiment import device_name, trained_model
    from qlib.metrics import evaluate
    from qlib.record import provenance, write_json
    from qlib.ties import hits_ndcg_upper_bound, tie_broken, tie_profile
    from qlib.train import evaluation_split

    todo, skipped = recorded_runs(args.methods, args.datasets, profile, args.seed)

    rows, profiles = [], []
    for method, exp in todo:
        model, data, record = trained_model(exp, profile=profile, seed=args.seed)
        with torch.no_grad():
            scorer = model.scorer()
        target, exclude = evaluation_split(data, "test")
        base = {"dataset": record["dataset"], "method": method, "record": record.get("_path"),
                "recorded": {k: record["metrics"].get(k) for k in ("recall@20", "ndcg_hits@20", "ndcg@20")}}
        t0 = time.perf_counter()
        bound = hits_ndcg_upper_bound(scorer, target, exclude, k=20, width=max(L2Q_KS))
        profiles.append({**base, **tie_profile(scorer, target, exclude, k=20), "k": 20,
                         "ndcg_hits@20_upper_bound": bound, "wall_time_s": time.perf_counter() - t0})
        runs = [("as-is", 0), ("low-index", 0), ("optimistic", 0), ("pessimistic", 0)]
        runs += [("random", s) for s in range(args.random_seeds)]
        for rule, seed in runs:
            t0 = time.perf_counter()
            m = evaluate(tie_broken(scorer, rule, data.n_items, target, seed=seed), target, exclude, L2Q_KS)
            rows.append({**base, "rule": rule, "tie_seed": seed, "metrics": m,
                         "wall_time_s": time.perf_counter() - t0})
            print(f"{record['dataset']:10} {method:12} {rule:11} seed {seed}  R@20 {m['recall@20']:.4f}  "
                  f"N_hits@20 {m['ndcg_hits@20']:.4f}  N@20 {m['ndcg@20']:.4f}", flush=True)
    out = {"benchmark": "tie_breaking", "profile": profile, "training_seed": args.seed, "tie_profiles": profiles,
           "rows": rows, "skipped": skipped, "provenance": provenance(device=device_name())}
    path = write_json(out, args.out / f"tie_breaking{'_smoke' if args.smoke else ''}.json")
    for prof in profiles:
        print(f"{prof['dataset']:10} {prof['method']:12} distinct scores {prof['distinct_scores']:.1f}  "
              f"tied at the 20th {prof['tied_at_k']:.1f}  slots decided by ties {prof['slots_decided_by_ties']:.2f}  "
              f"users with a tie at the cut {prof['users_with_tie_at_cut']:.1%}  "
              f"hits-only NDCG@20 bound over tie orders {prof['ndcg_hits@20_upper_bound']:.4f}")
    print("->", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
