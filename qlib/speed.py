"""Time to a target Recall@20 for two training recipes, each run in its own process.

Used by ``bench/train_speed.py`` (the benchmark) and the training-speed chapter. Both recipes train
LightGCN (d = 64, L = 3, lambda = 1e-4) with this project's trainer, evaluating test Recall@20
periodically (the LightGCN paper's protocol) and stopping at the target or at a wall-time budget.

When the paper recipe does not reach the target within its budget its time to target is extrapolated:
a saturating power law r(e) = r_inf - a * e^(-b) is fitted to its measured (epoch, Recall@20) points and
solved for the target epoch; that epoch count times its measured wall time per epoch (training plus its
share of evaluation) is the estimate. The budget itself gives a hard lower bound on the speed-up.
"""
from __future__ import annotations

import multiprocessing as mp
import resource
import time
from dataclasses import asdict, replace

__all__ = ["run_recipe", "extrapolate_epochs", "compare_recipes"]


def _worker(recipe: str, dataset: str, cfg_overrides: dict, seed: int, queue, device: str = "cpu") -> None:
    """Train one recipe on ``device``; put its measurements on the queue."""
    import torch

    from .data import load_dataset
    from .devices import peak_memory_mib, reset_peak_memory, resolve_device
    from .graph import build_norm_adj
    from .models import LightGCN, LightGCNConfig
    from .recipes import fast_recipe, paper_recipe
    from .train import fit, seed_everything

    base = fast_recipe() if recipe == "fast" else paper_recipe()
    cfg = replace(base, seed=seed, select_split="test", select_metric="recall@20", eval_ks=(20,),
                  progress=False, **cfg_overrides)
    data = load_dataset(dataset, protocol="paper", seed=seed)
    dev = resolve_device(device)
    seed_everything(seed)
    model = LightGCN(build_norm_adj(data.train, device=dev), data.n_users, data.n_items,
                     LightGCNConfig(dim=64, n_layers=3)).to(dev)
    reset_peak_memory(dev)
    t0 = time.perf_counter()
    res = fit(model, data, cfg)
    wall = time.perf_counter() - t0
    curve = [{"epoch": h["epoch"], "wall_time_s": h["wall_time_s"], "train_time_s": h["train_time_s"],
              "recall@20": h["test_recall@20"], "ndcg@20": h["test_ndcg@20"]}
             for h in res.history if "test_recall@20" in h]
    reached = next((c for c in curve if cfg.target is not None and c["recall@20"] >= cfg.target), None)
    queue.put({
        "recipe": recipe, "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "epochs": res.epochs_run, "stopped": res.stopped, "wall_time_s": wall,
        "train_time_s": res.train_time_s, "eval_time_s": res.eval_time_s,
        "per_epoch_train_s": res.train_time_s / max(res.epochs_run, 1),
        "time_to_target_s": reached["wall_time_s"] if reached else None,
        "epochs_to_target": reached["epoch"] if reached else None,
        "best_recall@20": res.best_value, "best_ndcg@20": res.select_metrics.get("ndcg@20"),
        "final_recall@20": curve[-1]["recall@20"] if curve else None,
        "final_ndcg@20": curve[-1]["ndcg@20"] if curve else None,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mib": peak_memory_mib(dev),    # None on the CPU
        "curve": curve, "threads": torch.get_num_threads(),
    })


def run_recipe(recipe: str, dataset: str, overrides: dict, seed: int, device: str = "cpu") -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(recipe, dataset, overrides, seed, queue, str(device)))
    proc.start()
    out = queue.get()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"the {recipe} recipe worker exited with status {proc.exitcode}")
    return out


def extrapolate_epochs(curve: list[dict], target: float) -> dict:
    """Fit r(e) = r_inf - a e^-b to the measured points; solve r(e*) = target. Documented in the module."""
    import numpy as np
    from scipy.optimize import curve_fit

    pts = [(c["epoch"], c["recall@20"]) for c in curve]
    if len(pts) < 4:
        return {"method": "power-law fit", "ok": False, "reason": f"only {len(pts)} points measured"}
    e, r = map(np.asarray, zip(*pts))
    try:
        (r_inf, a, b), _ = curve_fit(lambda x, ri, aa, bb: ri - aa * x ** (-bb), e, r,
                                     p0=(r.max() + 0.05, 0.1, 0.5), bounds=([0, 0, 0.01], [1, 10, 5]), maxfev=20000)
    except RuntimeError as err:
        return {"method": "power-law fit", "ok": False, "reason": str(err)}
    fit = {"method": "power-law fit r(e) = r_inf - a e^-b on the measured (epoch, Recall@20) points",
           "r_inf": float(r_inf), "a": float(a), "b": float(b), "ok": bool(r_inf > target)}
    if r_inf > target:
        fit["epochs_to_target"] = float((a / (r_inf - target)) ** (1 / b))
    else:
        fit["reason"] = f"the fitted asymptote {r_inf:.4f} is below the target"
    return fit



def compare_recipes(dataset: str, target: float, fast_budget_s: float, paper_budget_s: float,
                    fast_eval_every: int = 10, paper_eval_every: int = 1, seed: int = 2020, device: str = "cpu") -> dict:
    """Run the fast and the paper recipe one after the other on ``device``; return measurements and speed-ups."""
    from .experiment import device_name
    from .record import provenance

    fast = run_recipe("fast", dataset, {"target": target, "max_wall_time_s": fast_budget_s,
                                        "eval_every": fast_eval_every}, seed, device)
    paper = run_recipe("paper", dataset, {"target": target, "max_wall_time_s": paper_budget_s,
                                          "eval_every": paper_eval_every}, seed, device)
    per_epoch_paper = paper["wall_time_s"] / max(paper["epochs"], 1)
    if paper["time_to_target_s"] is None:
        paper["extrapolation"] = extrapolate_epochs(paper["curve"], target)
        ex = paper["extrapolation"]
        paper["estimated_time_to_target_s"] = ex["epochs_to_target"] * per_epoch_paper if ex.get("ok") else None
    speed = {}
    if fast["time_to_target_s"]:
        if paper["time_to_target_s"]:
            speed["measured"] = paper["time_to_target_s"] / fast["time_to_target_s"]
        else:
            speed["lower_bound"] = paper["wall_time_s"] / fast["time_to_target_s"]
            if paper.get("estimated_time_to_target_s"):
                speed["extrapolated"] = paper["estimated_time_to_target_s"] / fast["time_to_target_s"]
    return {"benchmark": "train_speed", "dataset": dataset, "target_recall@20": target,
            "model": "LightGCN d=64 L=3 lambda=1e-4", "protocol": "paper (test Recall@20 at each evaluation)",
            "recipes": {"fast": fast, "paper": paper}, "speedup": speed,
            "paper_per_epoch_wall_s": per_epoch_paper, "provenance": provenance(device=device_name(device))}
