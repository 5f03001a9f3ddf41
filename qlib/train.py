"""One BPR trainer shared by every model: sampling, Adam, periodic evaluation, model selection,
early stopping, resumable checkpoints, NaN guard, progress bar.

A run is a pure function of (model init, data, config): epoch e samples its triples from
``(seed, e)``, so a killed run resumed from its checkpoint finishes with the same numbers.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
import torch
from tqdm import tqdm

from .devices import module_device
from .metrics import evaluate
from .models.base import RecModel, eval_mode
from .sampling import TripleSampler

__all__ = ["TrainConfig", "TrainResult", "fit", "seed_everything", "evaluation_split"]

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (model initialisation draws from torch's global generator)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


#: TrainConfig fields that do not change results: left out of its fingerprint and of record audits
RESULT_NEUTRAL_FIELDS = ("progress", "checkpoint_dir", "max_wall_time_s", "target", "patience")


@dataclass
class TrainConfig:
    """Training recipe. Defaults are the LightGCN paper recipe (batch 2048, Adam 1e-3)."""

    epochs: int = 1000
    batch_size: int = 2048
    lr: float = 1e-3
    lr_schedule: str = "constant"      # "constant" or "cosine" (to lr_min * lr at the last epoch, per epoch)
    lr_min: float = 0.0
    sampler: str = "lightgcn"          # "lightgcn" (1 negative per row) or "legcf" (n_neg rows per positive)
    n_neg: int = 1
    eval_every: int = 10               # epochs between evaluations
    eval_ks: tuple[int, ...] = (20,)
    eval_batch_size: int = 1024
    select_split: str = "valid"        # "valid" (clean) or "test" (only where a paper's protocol does so)
    select_metric: str = "recall@20"
    patience: int | None = None        # evaluations without improvement before stopping; None = never
    target: float | None = None        # stop once select_metric reaches this value (benchmarks)
    max_wall_time_s: float | None = None
    grad_clip: float | None = None     # clip gradient values (LEGCF uses 3)
    compile: bool = False              # torch.compile the dense part of the loss (model.compile_loss)
    seed: int = 2020
    checkpoint_dir: str | None = None  # resumable when set
    progress: bool = True

    def fingerprint(self) -> str:
        """Hash of the settings that change results (not progress/checkpoint location/limits)."""
        d = asdict(self)
        for k in RESULT_NEUTRAL_FIELDS:
            d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TrainResult:
    best_epoch: int
    best_value: float
    select_metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_run: int = 0
    train_time_s: float = 0.0
    eval_time_s: float = 0.0
    wall_time_s: float = 0.0
    stopped: str = "epochs"
    resumed_from_epoch: int = 0        # > 0: this call continued a checkpoint saved after that many epochs


def evaluation_split(data, split: str) -> tuple[sp.csr_matrix, list[sp.csr_matrix]]:
    """(target, exclude) matrices for evaluating ``split`` of a :class:`qlib.data.Dataset`.

    Training items are always masked. For the ``clean`` protocol the validation items came out of the
    training data, so they are masked too when the test split is evaluated; for ``legcf`` they are test
    items held out for selection and stay rankable, as in LEGCF's code.
    """
    if split == "test":
        exclude = [data.train]
        if data.valid is not None and data.protocol == "clean":
            exclude.append(data.valid)
        return data.test, exclude
    if split == "valid":
        if data.valid is None:
            raise ValueError(
                f"dataset {data.name!r} with protocol {data.protocol!r} has no validation split; "
                "load it with protocol='clean' or 'legcf', or select on the test split (select_split='test') "
                "only where a paper's own protocol does so")
        return data.valid, [data.train]
    raise ValueError(f"unknown split {split!r}; use 'valid' or 'test'")


def learning_rate(cfg: TrainConfig, epoch: int) -> float:
    """The learning rate of ``epoch`` (0-based) under the config's schedule."""
    if cfg.lr_schedule == "constant" or cfg.epochs <= 1:
        return cfg.lr
    frac = epoch / (cfg.epochs - 1)
    return cfg.lr * (cfg.lr_min + (1 - cfg.lr_min) * 0.5 * (1 + math.cos(math.pi * frac)))


def _atomic_torch_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fit(model: RecModel, data, config: TrainConfig, on_eval: Callable[[dict], None] | None = None) -> TrainResult:
    """Train ``model`` on ``data.train`` with BPR; select the best evaluation by ``config.select_metric``.

    The model trains where its parameters are (move it first to train on a GPU). On return it holds the
    parameters of the best evaluation.
    """
    cfg = config
    if cfg.lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"unknown lr_schedule {cfg.lr_schedule!r}; use 'constant' or 'cosine'")
    if cfg.select_metric.split("@")[0] not in ("recall", "ndcg", "ndcg_hits", "precision"):
        raise ValueError(f"select_metric must look like 'recall@20', got {cfg.select_metric!r}")
    sel_k = int(cfg.select_metric.split("@")[1])
    ks = tuple(sorted(set(cfg.eval_ks) | {sel_k}))
    target, exclude = evaluation_split(data, cfg.select_split)
    sampler = TripleSampler(data.train, cfg.sampler, cfg.n_neg)
    device = module_device(model)   # triples are sampled on the CPU (same draws everywhere) and moved there
    if cfg.compile:
        model.compile_loss()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    state = {"epoch": 0, "history": [], "best_value": -float("inf"), "best_epoch": -1, "best_state": None,
             "best_metrics": {}, "bad_evals": 0, "train_time": 0.0, "eval_time": 0.0}
    ckpt = Path(cfg.checkpoint_dir) / "last.pt" if cfg.checkpoint_dir else None
    if ckpt is not None and ckpt.exists():
        saved = torch.load(ckpt, map_location="cpu", weights_only=False)  # resumable on another device
        if saved["fingerprint"] != cfg.fingerprint():
            raise ValueError(f"checkpoint {ckpt} was written with different settings; delete it or use another checkpoint_dir")
        try:
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["optimizer"])
        except (RuntimeError, ValueError, KeyError) as err:  # the model's layout changed since it was written
            raise ValueError(f"checkpoint {ckpt} does not fit this model (written by an older version of its "
                             f"code?); delete it to train from scratch: {str(err).splitlines()[0]}") from err
        state = saved["state"]
        log.info("resumed from %s at epoch %d", ckpt, state["epoch"])

    def _evaluate() -> dict[str, float]:
        with eval_mode(model):
            return evaluate(model.scorer(), target, exclude, ks, cfg.eval_batch_size)

    resumed_from = state["epoch"]
    t_start = time.perf_counter() - state["train_time"] - state["eval_time"]
    stopped = "epochs"
    bar = tqdm(range(state["epoch"], cfg.epochs), initial=state["epoch"], total=cfg.epochs,
               disable=not cfg.progress, desc=type(model).__name__, leave=False)
    model.train()
    for epoch in bar:
        t0 = time.perf_counter()
        model.on_epoch_start(epoch, cfg.epochs)
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, epoch)
        triples = sampler.sample(cfg.seed, epoch)
        sums: dict[str, float] = {}
        n_batches = 0
        for b, (u, p, n) in enumerate(triples.batches(cfg.batch_size)):
            u, p, n = u.to(device, non_blocking=True), p.to(device, non_blocking=True), n.to(device, non_blocking=True)
            parts = model.loss(u, p, n)
            loss = sum(parts.values())
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss is {float(loss.detach())} at epoch {epoch}, batch {b} (parts: "
                    f"{ {k: float(v.detach()) for k, v in parts.items()} }); lower the learning rate (now {cfg.lr}) "
                    "or check the model's inputs")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_value_(model.parameters(), cfg.grad_clip)
            opt.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            n_batches += 1
        state["train_time"] += time.perf_counter() - t0
        state["epoch"] = epoch + 1
        row = {"epoch": epoch + 1, **{f"loss_{k}": v / n_batches for k, v in sums.items()}}

        last = epoch + 1 == cfg.epochs
        if (epoch + 1) % cfg.eval_every == 0 or last:
            t1 = time.perf_counter()
            metrics = _evaluate()
            state["eval_time"] += time.perf_counter() - t1
            value = metrics[cfg.select_metric]
            row.update({f"{cfg.select_split}_{k}": v for k, v in metrics.items()})
            row["selectable"] = model.selectable
            if not model.selectable:
                pass  # e.g. the unquantized phase of annealing: recorded, never selected
            elif value > state["best_value"]:
                state.update(best_value=value, best_epoch=epoch + 1, best_metrics=metrics, bad_evals=0,
                             best_state=copy.deepcopy(model.state_dict()))
            else:
                state["bad_evals"] += 1
            row.update(train_time_s=state["train_time"], eval_time_s=state["eval_time"],
                       wall_time_s=time.perf_counter() - t_start)
            state["history"].append(row)
            bar.set_postfix({cfg.select_metric: f"{value:.4f}", "best": f"{state['best_value']:.4f}"})
            if on_eval is not None:
                on_eval(row)
            if ckpt is not None:
                _atomic_torch_save({"fingerprint": cfg.fingerprint(), "model": model.state_dict(),
                                    "optimizer": opt.state_dict(), "state": state}, ckpt)
            if cfg.target is not None and value >= cfg.target:
                stopped = "target"
                break
            if cfg.patience is not None and state["bad_evals"] >= cfg.patience:
                stopped = "early-stopping"
                break
            if cfg.max_wall_time_s is not None and time.perf_counter() - t_start >= cfg.max_wall_time_s:
                stopped = "wall-time"
                break
        else:
            state["history"].append(row)
    bar.close()
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    return TrainResult(
        best_epoch=state["best_epoch"], best_value=state["best_value"], select_metrics=state["best_metrics"],
        history=state["history"], epochs_run=state["epoch"], train_time_s=state["train_time"],
        eval_time_s=state["eval_time"], wall_time_s=time.perf_counter() - t_start, stopped=stopped,
        resumed_from_epoch=resumed_from)
