"""Shared pieces of the benchmark scripts: output-folder arguments and a wall-clock timer."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def add_output_args(p: argparse.ArgumentParser) -> None:
    """``--smoke`` (tiny sizes, results under results/smoke/bench) and ``--out`` (override the folder)."""
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--out", type=Path, default=None, help="default: results/bench (results/smoke/bench with --smoke)")


def parse_with_output(p: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse ``argv`` and resolve ``args.out`` to the benchmark records folder."""
    args = p.parse_args(argv)
    if args.out is None:
        args.out = REPO / "results" / ("smoke/bench" if args.smoke else "bench")
    return args


def timeit(fn, repeat: int = 5, warmup: int = 1) -> float:
    """Mean seconds of ``repeat`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def l2q_table2_experiment(method: str, dataset: str):
    """The paper-protocol L2Q-GCN Table 2 experiment of ``method`` on ``dataset`` (baselines included)."""
    from qlib import catalog

    pool = catalog.l2q_baseline_experiments((dataset,)) + catalog.l2q_experiments((dataset,))
    for exp in pool:
        if exp.method == method and exp.protocol == "paper":
            return exp
    raise SystemExit(f"no L2Q-GCN Table 2 experiment {method!r} on {dataset!r}; "
                     f"choose one of {sorted({e.method for e in pool})}")


def recorded_runs(methods, datasets, profile: str, seed: int, group: str = "l2q-baselines"):
    """``(runs, skipped)``: the Table 2 experiments of ``methods`` x ``datasets`` whose trained weights this
    machine holds, and the others with the reason. At ``full`` a benchmark never trains; at ``smoke`` every
    run is kept (:func:`qlib.experiment.trained_model` trains the tiny model)."""
    from qlib.experiment import has_trained_weights

    runs, skipped = [], []
    for ds in datasets:
        for method in methods:
            exp = l2q_table2_experiment(method, ds)
            if profile == "full" and not has_trained_weights(exp, profile, seed):
                skipped.append({"dataset": ds, "method": method, "reason": "no trained weights on this machine"})
                print(f"skipped: no trained weights of {method} on {ds} (seed {seed}) on this machine; "
                      f"`python scripts/run_full.py {group} --datasets {ds} --methods {method} --force` trains them",
                      flush=True)
            else:
                runs.append((method, exp))
    if not runs:
        raise SystemExit("nothing to evaluate: no requested run has trained weights on this machine")
    return runs, skipped
