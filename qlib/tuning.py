"""The recorded recipe sweeps (``results/bench/tune_*.json``) as tables and curves.

Every recipe choice of this project was made on validation data by one of the ``bench/tune_*.py`` scripts;
this module reads what they wrote so that the book shows the measured values instead of quoting them:

- ``tune_fast_recipe_<dataset>.json`` (``bench/tune_fast_recipe.py``): LightGCN's batch size, learning rate
  and schedule, validation Recall@20 on a split carved from the training data;
- ``tune_l2q_<dataset>_<variant>.json`` (``bench/tune_l2q.py``): L2Q-GCN's learning rate (and batch size);
- ``tune_legcf_<dataset>.json`` (``bench/tune_legcf.py``): LEGCF's update schedule and recipe, validation
  NDCG@5 under LEGCF's own split.

Each ``*_frame`` returns one row per run (sorted as recorded) and each ``*_curves`` the validation curve of
every run as ``{label: (epochs, values)}``. A missing file raises ``FileNotFoundError`` naming the script
that writes it.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .models.lightgcn import LightGCNConfig
from .recipes import FAST_BATCH_SIZE
from .record import RESULTS_ROOT

__all__ = ["bench_path", "load_sweep", "fast_recipe_frame", "chosen_fast_setting", "fast_recipe_curves", "l2q_lr_frame",
           "legcf_frame", "legcf_curves"]

_WRITERS = {"tune_fast_recipe": "bench/tune_fast_recipe.py", "tune_l2q": "bench/tune_l2q.py",
            "tune_legcf": "bench/tune_legcf.py"}


def bench_path(name: str, results_root: Path | None = None) -> Path:
    """``results/bench/<name>.json``."""
    return (RESULTS_ROOT if results_root is None else Path(results_root)) / "bench" / f"{name}.json"


def load_sweep(name: str, results_root: Path | None = None) -> dict:
    """The recorded sweep ``name`` (e.g. ``tune_l2q_ml-1m_end``)."""
    path = bench_path(name, results_root)
    if not path.exists():
        writer = next((w for prefix, w in _WRITERS.items() if name.startswith(prefix)), "bench/tune_*.py")
        raise FileNotFoundError(f"{path} is not recorded; run {writer} to write it")
    return json.loads(path.read_text())


#: LightGCN's L2 factor in the runs recorded before the sweep varied it (the paper's 1e-4)
_DEFAULT_REG = LightGCNConfig.reg


def _reg(run: dict) -> float:
    return float(run.get("reg", _DEFAULT_REG))


def _fast_label(run: dict) -> str:
    reg = "" if _reg(run) == _DEFAULT_REG else f", L2 {_reg(run):g}"
    return f"batch {run['batch_size']:,}, lr {run['lr']:g}, {run['lr_schedule']}, {run['epochs']} epochs{reg}"


def fast_recipe_frame(dataset: str = "gowalla", results_root: Path | None = None) -> pd.DataFrame:
    """LightGCN's fast-recipe sweep: batch, lr, schedule, epochs, L2 factor, final and best validation Recall@20,
    wall time."""
    sweep = load_sweep(f"tune_fast_recipe_{dataset}", results_root)
    rows = [{"batch": r["batch_size"], "lr": r["lr"], "schedule": r["lr_schedule"], "epochs": r["epochs"], "L2": _reg(r),
             "final valid recall@20": r["final_valid_recall@20"], "best valid recall@20": r["best_valid_recall@20"],
             "wall s": r["wall_time_s"]} for r in sweep["runs"]]
    return pd.DataFrame(rows)


def chosen_fast_setting(dataset: str, results_root: Path | None = None) -> dict[str, float] | None:
    """The learning rate and L2 factor a dataset's fast-recipe sweep chose: ``{"lr": ..., "reg": ...}`` of
    the highest final validation Recall@20 among its runs at the fast recipe's batch size, schedule and
    length (only those two vary among them), or None when no such run is recorded."""
    from .recipes import fast_recipe

    try:
        sweep = load_sweep(f"tune_fast_recipe_{dataset}", results_root)
    except FileNotFoundError:
        return None
    base = fast_recipe()
    same = [r for r in sweep["runs"] if (r["batch_size"], r["lr_schedule"], r["epochs"]) ==
            (base.batch_size, base.lr_schedule, base.epochs)]
    if not same:
        return None
    best = max(same, key=lambda r: r["final_valid_recall@20"])
    return {"lr": float(best["lr"]), "reg": _reg(best)}


def fast_recipe_curves(dataset: str = "gowalla", results_root: Path | None = None) -> dict[str, tuple[list, list]]:
    sweep = load_sweep(f"tune_fast_recipe_{dataset}", results_root)
    return {_fast_label(r): ([p["epoch"] for p in r["curve"]], [p["valid_recall@20"] for p in r["curve"]])
            for r in sweep["runs"]}


def l2q_lr_frame(dataset: str, variant: str = "end", results_root: Path | None = None) -> pd.DataFrame:
    """L2Q-GCN's learning-rate sweep: lr, batch, epochs, final validation Recall@20, best epoch, wall time.
    Runs recorded without a batch size used the fast recipe's (``FAST_BATCH_SIZE``)."""
    sweep = load_sweep(f"tune_l2q_{dataset}_{variant}", results_root)
    rows = [{"run": key, "lr": r["lr"], "batch": r.get("batch_size", FAST_BATCH_SIZE), "epochs": r["epochs"],
             "final valid recall@20": r["final_valid_recall@20"], "best epoch": r["best_epoch"],
             "wall s": r["wall_time_s"]} for key, r in sweep["runs"].items()]
    return pd.DataFrame(rows)


def _legcf_runs(dataset: str, results_root: Path | None) -> dict:
    return load_sweep(f"tune_legcf_{dataset}", results_root)["runs"]


def _value_at(curve: list, epoch: int) -> float | None:
    """The last curve value at or before ``epoch``."""
    before = [v for e, v in curve if e <= epoch]
    return before[-1] if before else None


def _n_updates(run: dict) -> int:
    """Updates over the whole run. Runs recorded before ``n_updates_at_selected`` existed stored the count
    of the selected (restored) state as ``n_updates``; the total follows from the schedule."""
    if "n_updates_at_selected" in run or "model" not in run:
        return int(run["n_updates"])
    model, p = run["model"], run["pretrain_epochs"]
    if not model.get("update_assignment", True):
        return 0
    return sum(e >= p and (e - p) % model.get("update_every", 1) == 0 for e in range(run["epochs"]))


def _switches(model: dict) -> str:
    """The backbone switches of a run as text (``""`` for the backbone as published)."""
    return ", ".join(f"{k}={v}" for k, v in sorted((model.get("backbone_options") or {}).items()))


def legcf_frame(dataset: str = "gowalla", results_root: Path | None = None) -> pd.DataFrame:
    """LEGCF's recipe sweep, one row per run: the change, epochs, P, the number of updates, validation NDCG@5
    at the end of pre-training (S still at its initialisation), the selected value (only states after the
    first update are selectable when updates are on) and the last one.

    Runs of the ``table`` variant (a full embedding table on a backbone, no S) are rows too (``full table``);
    every LEGCF row gets ``share of its full table``: its selected value over that of the full-table run with
    the same backbone, switches, layers and epochs (NaN where none was run)."""
    rows = []
    for key, r in _legcf_runs(dataset, results_root).items():
        curve, model = r["valid_ndcg@5_curve"], r.get("model", {})
        rows.append({"run": key, "variant": r["variant"], "full table": bool(model.get("full_table", False)),
                     "backbone": model.get("backbone", "lightgcn"), "switches": _switches(model),
                     "layers": model.get("n_layers"), "epochs": r["epochs"], "P": r["pretrain_epochs"],
                     "updates": _n_updates(r), "valid ndcg@5 at P": _value_at(curve, r["pretrain_epochs"]),
                     "selected valid ndcg@5": r["best_valid"].get("ndcg@5"), "selected epoch": r["best_epoch"],
                     "final valid ndcg@5": r["final_valid_ndcg@5"], "wall s": r["wall_time_s"]})
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["change by the updates"] = frame["selected valid ndcg@5"] / frame["valid ndcg@5 at P"] - 1
        frame.loc[frame["updates"] == 0, "change by the updates"] = float("nan")
        match = ["backbone", "switches", "layers", "epochs"]
        tables = frame[frame["full table"]].drop_duplicates(match).set_index(match)["selected valid ndcg@5"]
        ref = [tables.get(tuple(row), float("nan")) for row in frame[match].itertuples(index=False)]
        frame["share of its full table"] = frame["selected valid ndcg@5"] / pd.Series(ref, index=frame.index, dtype=float)
        frame.loc[frame["full table"], "share of its full table"] = float("nan")
    return frame


def legcf_curves(dataset: str = "gowalla", results_root: Path | None = None) -> dict[str, tuple[list, list]]:
    return {key: ([e for e, _ in r["valid_ndcg@5_curve"]], [v for _, v in r["valid_ndcg@5_curve"]])
            for key, r in _legcf_runs(dataset, results_root).items()}
