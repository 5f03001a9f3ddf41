"""Benchmark: levers of an eager (uncompiled) CPU training step, side by side in one invocation.

The smoke and quick profiles train uncompiled, and there a large-batch step of a wide model is dominated
not by arithmetic but by memory: the per-triple scores gather several [batch, d] tensors, fill them,
keep them for backward and scatter them back (LEGCF at 5 negatives per positive on NGCF's d' = 512 is the
book's worst case). Settings, each in a fresh worker process:

- ``gathered``: the scores as ``(x[a] * y[b]).sum(1)`` (the heads before the lever);
- ``chunked``: :func:`qlib.models.base.row_dots`, the current heads (chunks of rows, nothing saved);
- ``chunked+retain``: the same with glibc told to keep freed memory instead of unmapping every large block
  (``mallopt``: no mmap, no trimming), a second lever tried against the page faults of fresh allocations.

Each worker builds a catalog LEGCF experiment as ``run_experiment`` does at ``--profile`` and trains it for
``--epochs`` epochs with ``qlib.train.fit`` (assignment updates included past the pre-training half), on one
thread. Reported per setting: wall, user and system CPU seconds, minor page faults, peak RSS, and every
epoch's training loss (the first must agree exactly; later ones may differ in the last digits, gradients
being summed in another order). Prints a table and writes results/bench/eager_step_<workload>.json.

    python bench/eager_step.py                                    # LEGCF on NGCF, gowalla-mini, quick profile
    python bench/eager_step.py --table "Table 2" --variant ""     # LEGCF on LightGCN
    python bench/eager_step.py --smoke                            # seconds (tests)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import add_output_args, parse_with_output  # noqa: E402

SETTINGS = ("gathered", "chunked", "chunked+retain")
# mallopt parameters (glibc's malloc.h): no block served by mmap; freed memory kept up to the largest C int
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


def retain_freed_memory() -> bool:
    """Serve large blocks from the heap and keep freed ones (glibc ``mallopt``); whether it was applied."""
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


def _gathered_row_dots(x, a, y, b):
    return (x[a] * y[b]).sum(1)


def _experiment(table: str, method: str, variant: str):
    from qlib import catalog

    pool = (catalog.legcf_table2_experiments() + catalog.legcf_ablation_experiments()
            + catalog.legcf_backbone_experiments())
    for exp in pool:
        if (exp.table, exp.method, exp.variant) == (table, method, variant):
            return exp
    raise SystemExit(f"no LEGCF experiment {table} / {method} / {variant!r}; choose one of "
                     + "; ".join(sorted({f'{e.table} / {e.method} / {e.variant!r}' for e in pool})))


def worker(setting: str, table: str, method: str, variant: str, profile: str, epochs: int, seed: int) -> dict:
    """Train ``epochs`` epochs in this process under ``setting``; return the measurements."""
    from dataclasses import replace

    import torch

    import qlib.models.l2q_gcn
    import qlib.models.legcf
    import qlib.models.lightgcn

    applied = retain_freed_memory() if setting.endswith("+retain") else False
    if setting == "gathered":
        for module in (qlib.models.lightgcn, qlib.models.legcf, qlib.models.l2q_gcn):
            module.row_dots = _gathered_row_dots
    torch.set_num_threads(1)

    from qlib.data import load_dataset
    from qlib.experiment import resolved_train_config
    from qlib.graph import build_norm_adj
    from qlib.recipes import get_profile
    from qlib.train import fit, seed_everything

    exp = _experiment(table, method, variant)
    cfg = replace(resolved_train_config(exp, profile, seed), epochs=epochs, eval_every=epochs, progress=False)
    data = load_dataset(get_profile(profile).dataset(exp.dataset), protocol=exp.protocol, seed=seed)
    seed_everything(seed)
    model = exp.model_factory(data, build_norm_adj(data.train))
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    result = fit(model, data, cfg)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"setting": setting, "retain_applied": applied, "wall_s": wall, "train_s": result.train_time_s,
            "user_s": after.ru_utime - before.ru_utime, "sys_s": after.ru_stime - before.ru_stime,
            "minor_faults": after.ru_minflt - before.ru_minflt, "peak_rss_mib": after.ru_maxrss / 1024,
            "losses": [h.get("loss_bpr") for h in result.history if "loss_bpr" in h]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", default="Table 4")
    p.add_argument("--method", default="LEGCF")
    p.add_argument("--variant", default="backbone=NGCF")
    p.add_argument("--profile", default="quick", help="the run profile whose recipe and dataset are used")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--worker", choices=SETTINGS, default=None, help=argparse.SUPPRESS)
    add_output_args(p)
    args = parse_with_output(p, argv)
    if args.smoke:
        args.profile, args.epochs = "smoke", 2
    if args.worker:
        print(json.dumps(worker(args.worker, args.table, args.method, args.variant, args.profile, args.epochs,
                                args.seed)))
        return 0

    from qlib.experiment import device_name
    from qlib.record import provenance, write_json

    rows = []
    for setting in SETTINGS:
        cmd = [sys.executable, __file__, "--worker", setting, "--table", args.table, "--method", args.method,
               "--variant", args.variant, "--profile", args.profile, "--epochs", str(args.epochs),
               "--seed", str(args.seed)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
        if done.returncode != 0:
            raise SystemExit(f"the {setting} worker failed:\n{done.stderr[-2000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    base = rows[0]
    for r in rows:
        r["speedup_wall"] = base["wall_s"] / r["wall_s"]
        r["first_loss_equal"] = r["losses"][:1] == base["losses"][:1]
        r["max_loss_rel_diff"] = max((abs(x - y) / abs(y) for x, y in zip(r["losses"], base["losses"])), default=0.0)
    same = all(r["first_loss_equal"] for r in rows)
    out = {"benchmark": "eager_step", "workload": {"table": args.table, "method": args.method, "variant": args.variant,
                                                   "profile": args.profile, "epochs": args.epochs, "seed": args.seed},
           "rows": rows, "first_losses_equal": same,
           "load_1min": os.getloadavg()[0], "cpus": os.cpu_count(), "provenance": provenance(device=device_name())}
    tag = "smoke" if args.smoke else re.sub(r"[^a-z0-9]+", "-", f"{args.method} {args.variant} {args.profile}".lower()).strip("-")
    path = write_json(out, args.out / f"eager_step_{tag}.json")
    print(f"{'setting':15} {'wall s':>8} {'user s':>8} {'sys s':>8} {'faults':>10} {'peak MiB':>9} {'speed-up':>9} "
          f"{'max loss diff':>14}")
    for r in rows:
        print(f"{r['setting']:15} {r['wall_s']:8.1f} {r['user_s']:8.1f} {r['sys_s']:8.1f} {r['minor_faults']:10d} "
              f"{r['peak_rss_mib']:9.0f} {r['speedup_wall']:8.2f}x {r['max_loss_rel_diff']:14.2e}")
    print(f"load {out['load_1min']:.1f} on {out['cpus']} CPUs -> {path}")
    if not same:
        raise SystemExit("the settings computed different first-epoch losses: a lever must not change the forward pass")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
