"""Run one experiment end to end and record it: data -> model -> fit -> test metrics -> JSON record.

Notebooks call :func:`run_experiment`; they never hold training loops. A full-profile run whose record
already exists is loaded instead of retrained (pass ``force=True`` to retrain); an interrupted run
resumes from its checkpoint under ``runs/``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch

from . import record as rec
from .data import load_dataset
from .devices import describe_device, resolve_device
from .graph import build_norm_adj
from .metrics import evaluate
from .models.base import RecModel
from .recipes import get_profile
from .train import RESULT_NEUTRAL_FIELDS, TrainConfig, evaluation_split, fit, seed_everything

__all__ = ["Experiment", "run_experiment", "resolved_train_config", "settings_changed", "audit_records", "trained_model", "has_trained_weights", "RUNS_ROOT", "device_name"]

log = logging.getLogger(__name__)
RUNS_ROOT = Path(__file__).resolve().parent.parent / "runs"

ModelFactory = Callable[[Any, torch.Tensor], RecModel]


def device_name(device: str | torch.device | None = "cpu") -> str:
    """How records name the device a run used (:func:`qlib.devices.describe_device`); analyses that run
    on the CPU call it without an argument."""
    return describe_device(device)


@dataclass
class Experiment:
    """What to run and how to label it against a paper's table."""

    paper: str
    table: str
    method: str
    dataset: str
    model_factory: ModelFactory
    model_config: Any
    train: TrainConfig
    protocol: str = "paper"
    variant: str = ""
    eval_ks: tuple[int, ...] = (20,)
    notes: str = ""
    extra: dict = field(default_factory=dict)
    #: other (table, variant) cells this run also serves (e.g. Table 3's "Best" row is Table 2's run)
    also: tuple[tuple[str, str], ...] = ()

    def label(self) -> dict[str, Any]:
        return {"paper": self.paper, "table": self.table, "dataset": self.dataset, "method": self.method,
                "variant": self.variant, "protocol": self.protocol}


def _label(exp: Experiment, profile: str, seed: int) -> dict:
    """The record label of ``exp`` at ``profile`` and ``seed`` (the profile picks the dataset)."""
    return {**exp.label(), "dataset": get_profile(profile).dataset(exp.dataset), "seed": seed}


def resolved_train_config(exp: Experiment, profile: str, seed: int):
    """The TrainConfig ``exp`` trains with at ``profile`` and ``seed`` (selection on the test split only
    under the ``paper`` protocol, where the papers select that way)."""
    return get_profile(profile).apply(replace(exp.train, seed=seed, eval_ks=tuple(sorted(set(exp.eval_ks))),
                                              select_split="test" if exp.protocol == "paper" else "valid"))


def run_experiment(exp: Experiment, profile: str = "quick", seed: int = 2020, force: bool = False,
                   results_root: Path | None = None, data_dir=None, device: str | torch.device | None = None) -> dict:
    """Run (or load, for an existing full-profile record) ``exp`` at ``profile``; return the record.

    ``device``: where to train and evaluate (:func:`qlib.devices.resolve_device`; ``None`` = a CUDA GPU
    when torch sees one, else the CPU). The model is built on the CPU with the seed's draws and then moved,
    and the triples are sampled on the CPU, so the device changes floating-point order only; the record's
    provenance names it."""
    dev = resolve_device(device)
    label = _label(exp, profile, seed)
    dataset = label["dataset"]
    path = (results_root or rec.RESULTS_ROOT) / profile / f"{rec.record_key(label)}.json"
    selection_on_test = exp.protocol == "paper"
    train_cfg = resolved_train_config(exp, profile, seed)
    if profile == "full" and path.exists() and not force:
        recorded = rec.load_record(path)
        changed = settings_changed(recorded, train_cfg, exp.model_config)
        if not changed:
            log.info("loading recorded run %s", path)
            return recorded
        log.warning("%s was recorded with other settings (%s); training again under the current ones",
                    path, ", ".join(changed))
    if profile == "full":  # long runs resume from their last evaluation; short profiles always start afresh
        train_cfg = replace(train_cfg, checkpoint_dir=str(RUNS_ROOT / profile / rec.record_key(label)))

    launched = rec.provenance(device=device_name(dev))  # the commit and versions the run starts from
    t0 = time.perf_counter()
    data = load_dataset(dataset, protocol=exp.protocol, seed=seed, data_dir=data_dir)
    seed_everything(seed)
    # parameters are drawn on the CPU (torch's default device) and moved; the graph is built where it is used
    model = exp.model_factory(data, build_norm_adj(data.train, device=dev)).to(dev)
    result = fit(model, data, train_cfg)
    if selection_on_test:
        test_metrics = result.select_metrics
    else:
        target, exclude = evaluation_split(data, "test")
        test_metrics = evaluate(model.scorer(), target, exclude, train_cfg.eval_ks, train_cfg.eval_batch_size)
    wall = time.perf_counter() - t0

    record = {
        **label,
        "metrics": {**test_metrics, "storage_bits": float(model.storage_bits()), "num_params": float(model.num_params())},
        "valid_metrics": None if selection_on_test else result.select_metrics,
        "selection": (f"best {train_cfg.select_metric} on the test split over evaluations every "
                      f"{train_cfg.eval_every} epochs (the paper's protocol)") if selection_on_test else
                     (f"best {train_cfg.select_metric} on the validation split ({exp.protocol} protocol); "
                      "test evaluated once at that epoch"),
        "config": {"model_class": type(model).__name__, "model": _plain(exp.model_config),
                   "train": _plain(train_cfg), "dataset": dataset, "paper_dataset": exp.dataset,
                   "protocol": exp.protocol, **exp.extra},
        "epochs": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped": result.stopped,
        "state_facts": model.state_facts(),    # e.g. PEP's stage; {} for most models
        "wall_time_s": wall,                   # this process only; train/eval times add up over resumed segments
        "resumed_from_epoch": result.resumed_from_epoch,
        "train_time_s": result.train_time_s,
        "eval_time_s": result.eval_time_s,
        "history": result.history,
        "dataset_stats": data.stats(),
        "notes": exp.notes,
        "also": [list(a) for a in exp.also],
        "provenance": launched,
    }
    written = rec.write_record(record, profile, results_root)
    _save_weights(model, _weights_path(label, profile))
    record["_path"] = str(written)
    return record


#: model settings that size work or name caches without changing a result (NeuMF's scoring block, METIS cache)
_MODEL_NEUTRAL = ("score_budget", "metis_cache_dir")


def settings_changed(record: dict, train_cfg, model_config) -> list[str]:
    """The settings (``train.<field>``, ``model.<field>``) in which a record differs from the current
    experiment. Fields that one side does not have (added to a config after the record was written) are
    not compared, nor are the ones that do not change results."""
    config = record.get("config", {})
    out = []
    for prefix, now, then in (("train", _plain(train_cfg), config.get("train", {})),
                              ("model", _plain(model_config) if model_config is not None else {}, config.get("model", {}))):
        for key in sorted(set(now) & set(then)):
            if key in (RESULT_NEUTRAL_FIELDS if prefix == "train" else _MODEL_NEUTRAL):
                continue
            a, b = now[key], then[key]
            if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
                a, b = list(a), list(b)
            if a != b:
                out.append(f"{prefix}.{key}: {b!r} -> {a!r}")
    return out


def audit_records(experiments, profile: str = "full", seeds=(2020, 2021, 2022),
                  results_root: Path | None = None) -> dict:
    """Which recorded runs of ``experiments`` were made with settings other than the current ones.

    Returns ``{"checked": n, "stale": [{"record": path, "changes": [...]}, ...]}``; a stale record is what
    the book would show while its experiment now trains differently (``run_experiment`` retrains it)."""
    checked, stale = 0, []
    for exp in experiments:
        for seed in seeds:
            label = _label(exp, profile, seed)
            path = (results_root or rec.RESULTS_ROOT) / profile / f"{rec.record_key(label)}.json"
            if not path.exists():
                continue
            checked += 1
            changes = settings_changed(rec.load_record(path), resolved_train_config(exp, profile, seed),
                                       exp.model_config)
            if changes:
                stale.append({"record": str(path), "changes": changes})
    return {"checked": checked, "stale": stale}


def _weights_path(label: dict, profile: str) -> Path:
    return RUNS_ROOT / profile / rec.record_key(label) / "selected.pt"


def _save_weights(model: RecModel, path: Path) -> None:
    """The selected parameters (not committed: runs/ is local), for analyses that need the trained model."""
    _save_state(model.state_dict(), path)


def _save_state(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def _selected_weights(exp: Experiment, profile: str, seed: int) -> Path | None:
    """The path of the run's selected parameters on this machine, or None. A finished full run's checkpoint
    (``last.pt`` past the last epoch) also holds the selected state: it is written out once as ``selected.pt``."""
    weights = _weights_path(_label(exp, profile, seed), profile)
    last = weights.parent / "last.pt"
    if not weights.exists() and last.exists():
        state = torch.load(last, map_location="cpu", weights_only=False).get("state", {})
        if state.get("best_state") is not None and state.get("epoch", 0) >= exp.train.epochs:
            _save_state(state["best_state"], weights)
    return weights if weights.exists() else None


def has_trained_weights(exp: Experiment, profile: str = "quick", seed: int = 2020) -> bool:
    """Whether this machine holds a finished run of ``exp``: its record and its selected parameters (the
    ``selected.pt``, or a checkpoint past the last epoch), so that :func:`trained_model` loads, not trains."""
    record_path = rec.RESULTS_ROOT / profile / f"{rec.record_key(_label(exp, profile, seed))}.json"
    return record_path.exists() and _selected_weights(exp, profile, seed) is not None


def trained_model(exp: Experiment, profile: str = "quick", seed: int = 2020, data_dir=None):
    """``(model, data, record)`` with the model holding the selected parameters of ``exp`` at ``profile``:
    loaded from this machine's saved weights when the run exists here, else trained (and recorded) now."""
    label = _label(exp, profile, seed)
    weights = _selected_weights(exp, profile, seed)
    record = None
    if weights is not None:
        path = rec.RESULTS_ROOT / profile / f"{rec.record_key(label)}.json"
        record = rec.load_record(path) if path.exists() else None
    if record is None or weights is None:
        record = run_experiment(exp, profile=profile, seed=seed, force=profile != "full" or weights is None,
                                data_dir=data_dir)
        weights = _weights_path(label, profile)
    data = load_dataset(label["dataset"], protocol=exp.protocol, seed=seed, data_dir=data_dir)
    model = exp.model_factory(data, build_norm_adj(data.train))
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()
    return model, data, record


def _plain(obj: Any) -> Any:
    """Dataclass -> dict with JSON-friendly values (tuples become lists)."""
    d = asdict(obj) if hasattr(obj, "__dataclass_fields__") else dict(obj)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
