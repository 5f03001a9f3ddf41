"""The LEGCF chapter's analyses beyond the tables (Liang et al., SIGIR'24, Sec. 4.3-4.4).

- :func:`training_snapshots`: Fig. 2, t-SNE of sampled meta-embeddings and of entities anchored to them at
  three stages (initialisation, end of pre-training, after the assignment-update stage), each with the
  test NDCG@20 / Recall@20 of the model at that stage; recorded like a run (table "Figure 2").
- :func:`assignment_weights`: Fig. 3, the average assignment weight of sampled meta-embeddings at
  initialisation and in the trained model (the Table 2 run's selected weights); recorded (table "Figure 3").
- :func:`stage_curves`: each LEGCF run's validation curve split at the end of pre-training, and what the
  assignment updates did to it (not a paper figure; it explains Table 3 here).
- :func:`sensitivity_experiments`: Fig. 4, LEGCF with one hyperparameter changed at a time (t, m, w*, c);
  the default point of every sweep is Table 2's LEGCF run and is not run again.
- :func:`sensitivity_frame`: Fig. 4's points from the records (Figure 4 runs plus the Table 2 default).
"""
from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from . import record as rec
from .data import load_dataset
from .devices import resolve_device
from .experiment import Experiment, _plain, device_name
from .graph import build_norm_adj
from .metrics import evaluate
from .recipes import get_profile
from .train import evaluation_split, fit, learning_rate, seed_everything

__all__ = [
    "SENSITIVITY_GRID",
    "assignment_weights",
    "SNAPSHOT_STAGES",
    "sensitivity_experiments",
    "sensitivity_frame",
    "versus_default",
    "stage_curves",
    "update_fidelity",
    "fidelity_record",
    "training_snapshots",
]

#: Fig. 2's three panels: initialisation, end of the pre-training stage, after the assignment-update stage
SNAPSHOT_STAGES = ("init", "pretrain", "update")
_SNAPSHOT_KS = (20,)


# ----------------------------------------------------------------------------------------- Figure 2
def _tsne(points: np.ndarray, seed: int) -> np.ndarray:
    """2-D t-SNE of ``points`` (PCA init, fixed random_state), scaled by the largest absolute coordinate to
    [-1, 1] (the paper: "we normalize the embeddings in [-1, 1] scale for visualization consistency")."""
    from sklearn.manifold import TSNE

    n = points.shape[0]
    if n < 2:
        return np.zeros((n, 2))
    # sklearn's default 30 suits the paper's ~505 points; fewer points need perplexity < n
    perplexity = float(min(30.0, max(1.0, (n - 1) / 3.0)))
    xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        points.astype(np.float64))
    scale = float(np.abs(xy).max())
    return xy / scale if scale > 0 else xy


def _capture(model, data, ks: Sequence[int], epoch: int) -> dict[str, Any]:
    """What a snapshot needs from the model now: E_meta, E_hat, anchors, test metrics."""
    target, exclude = evaluation_split(data, "test")
    model.eval()
    metrics = evaluate(model.scorer(), target, exclude, ks)
    idx, val = model.assignment()
    return {"epoch": epoch, "meta": model.meta_embeddings(), "entities": model.entity_embeddings(),
            "anchor": idx[:, 0].copy(), "anchor_weight": val[:, 0].copy(), "n_updates": int(model.n_updates),
            "metrics": metrics}


def training_snapshots(exp: Experiment, profile: str = "quick", seed: int = 2020, n_meta: int = 5,
                       per_meta: int = 100, write: bool = True, group_by: str = "current", device=None) -> dict:
    """Fig. 2 for the LEGCF experiment ``exp`` (e.g. Table 2's LEGCF run): entity and meta-embeddings at
    (a) initialisation, (b) the end of the pre-training stage and (c) after the assignment-update stage.

    The model is built exactly as :func:`qlib.experiment.run_experiment` builds it (same data, seed and
    factory) and trained with the same resolved recipe (``profile.apply``, selection on validation), split
    into the two stages of Algorithm 1 by two calls of :func:`qlib.train.fit`:

    1. Pre-training, S fixed: ``fit`` at the full run length E, stopped at its first evaluation, placed at
       epoch P = ``model.pretrain_epochs(E)`` (the run's own P). These are exactly the first P epochs of a
       single run (same learning rates, same sampled triples); nothing is selected (the state of epoch P is
       kept). Snapshot (b).
    2. Assignment update: ``fit`` for the remaining E - P epochs with the model's ``pretrain_epochs`` set
       to 0, so S is updated right away at the phase's first epoch and then every m epochs; the state is
       selected by validation as in the single run (only states after the first update). Snapshot (c).

    Deviation from a single run (only for this figure): **the learning-rate schedule restarts at the phase
    boundary** - phase 2 runs its own schedule over E - P epochs, starting from the single run's learning
    rate at epoch P and ending at the single run's final rate (a cosine over the phase instead of the
    second half of one cosine) - and Adam's moment estimates restart; phase 2 samples its triples from
    seed + 1 (a single run would draw fresh triples for its later epochs too, not replay the first ones).

    Sampling (a fixed ``numpy`` generator from ``seed``): ``n_meta`` meta-embedding ids, the same ids in all
    three panels, drawn among the meta-embeddings that anchor at least one entity in every panel (so that no
    group is empty; METIS may leave parts empty and the update concentrates anchors on few meta-embeddings,
    Fig. 3); one random order of all N entities, from which every group takes its first ``per_meta``
    members, so identical groups give identical entities. ``group_by="current"`` groups entities by their
    anchor (column 0 of S, the largest weight) in that panel; ``group_by="initial"`` by the anchor at
    initialisation in every panel, the paper's wording for Fig. 2 ("randomly select 100 entities whose
    initial anchor embedding is the chosen meta-embedding", colours by initial anchor). Panels (a) and (b)
    coincide under both (S is fixed during pre-training); every entity's initial and current anchors are
    stored either way. Entities are users (ids < n_users) and items (n_users + item id); their points are
    the composed layer-0 embeddings E_hat = S E_meta, embedded by t-SNE together with the sampled
    meta-embeddings, one t-SNE per panel, coordinates scaled to [-1, 1].

    ``device``: where both phases train (:func:`qlib.devices.resolve_device`; t-SNE runs on the CPU).

    Returns the record (paper "LEGCF", table "Figure 2"); metrics ``ndcg@20_<stage>``/``recall@20_<stage>``
    for stage in :data:`SNAPSHOT_STAGES`, ``anchor_changed_frac`` (entities whose anchor differs between
    (b) and (c)); ``snapshots`` holds one dict per panel. Written to ``results/<profile>/`` when ``write``.
    """
    from .models.legcf import LEGCF

    if group_by not in ("current", "initial"):
        raise ValueError(f"group_by must be 'current' or 'initial', got {group_by!r}")
    if n_meta < 1 or per_meta < 1:
        raise ValueError(f"n_meta and per_meta must be >= 1, got {n_meta}, {per_meta}")
    prof = get_profile(profile)
    dataset = prof.dataset(exp.dataset)
    train_cfg = prof.apply(replace(exp.train, seed=seed, eval_ks=tuple(sorted(set(exp.eval_ks))),
                                   select_split="valid"))
    train_cfg = replace(train_cfg, checkpoint_dir=None, target=None, max_wall_time_s=None)
    dev = resolve_device(device)
    launched = rec.provenance(device=device_name(dev))
    t0 = time.perf_counter()

    data = load_dataset(dataset, protocol=exp.protocol, seed=seed)
    seed_everything(seed)
    model = exp.model_factory(data, build_norm_adj(data.train, device=dev)).to(dev)
    if not isinstance(model, LEGCF):
        raise TypeError(f"training_snapshots needs a LEGCF experiment, got a {type(model).__name__}")
    base = model.config
    if not base.update_assignment:
        raise ValueError("Fig. 2 needs the assignment-update stage: the experiment has update_assignment=False")
    total = train_cfg.epochs
    p = int(model.pretrain_epochs(total))
    if not 0 <= p < total:
        raise ValueError(f"pre-training takes {p} of {total} epochs: no assignment-update stage to show")
    ks = tuple(sorted(set(_SNAPSHOT_KS) | set(train_cfg.eval_ks)))
    # the model's own copy of its config: the factory's object is shared with exp.model_config
    model.config = replace(base, pretrain_epochs=p)

    snaps = [_capture(model, data, ks, 0)]
    history: list[dict] = []
    # the single run's schedule, stopped by the wall-time check at its first evaluation (epoch P)
    phase1 = replace(train_cfg, eval_every=max(p, 1), max_wall_time_s=0.0)
    if p > 0:
        res1 = fit(model, data, phase1)
        if res1.epochs_run != p:
            raise RuntimeError(f"pre-training stopped after {res1.epochs_run} epochs, expected {p}")
        history += [{**row, "phase": "pretrain"} for row in res1.history]
    snaps.append(_capture(model, data, ks, p))

    lr_p = learning_rate(train_cfg, p)
    lr_end = learning_rate(train_cfg, total - 1)
    phase2 = replace(train_cfg, epochs=total - p, lr=lr_p, seed=seed + 1,
                     lr_min=min(1.0, lr_end / lr_p) if lr_p > 0 else 0.0)
    model.config = replace(base, pretrain_epochs=0)  # update right away, then every m epochs
    res2 = fit(model, data, phase2)
    history += [{**row, "epoch": row["epoch"] + p, "phase": "update"} for row in res2.history]
    snaps.append(_capture(model, data, ks, p + res2.best_epoch if res2.best_epoch > 0 else total))
    model.config = base

    # ------------------------------------------------------------------ sampling and t-SNE
    rng = np.random.default_rng(seed)
    n_nodes = data.n_users + data.n_items
    c = base.n_meta
    init_anchor = snaps[0]["anchor"]
    group_anchor = [s["anchor"] if group_by == "current" else init_anchor for s in snaps]
    counts = np.stack([np.bincount(a, minlength=c) for a in group_anchor])
    candidates = np.flatnonzero((counts > 0).all(0))
    note_sampling = ""
    if len(candidates) == 0:  # no meta-embedding anchors entities in all panels: some groups stay empty
        candidates = np.flatnonzero(counts[0] > 0)
        note_sampling = "; no meta-embedding anchored entities in every panel, so some groups are empty"
    if len(candidates) < n_meta:
        note_sampling += f"; only {len(candidates)} meta-embeddings qualified (asked for {n_meta})"
    meta_ids = np.sort(rng.choice(candidates, size=min(n_meta, len(candidates)), replace=False))
    order = rng.permutation(n_nodes)

    snapshots = []
    for stage, snap, anchors in zip(SNAPSHOT_STAGES, snaps, group_anchor):
        ids, groups = [], []
        ordered = anchors[order]
        for m in meta_ids:
            members = order[ordered == m][:per_meta]
            ids.append(members)
            groups.append(np.full(len(members), m))
        ids_a = np.concatenate(ids).astype(np.int64)
        groups_a = np.concatenate(groups).astype(np.int64)
        points = np.concatenate([snap["meta"][meta_ids], snap["entities"][ids_a]])
        xy = _tsne(points, seed)
        k = len(meta_ids)
        snapshots.append({
            "stage": stage, "epoch": snap["epoch"], "n_updates": snap["n_updates"],
            "meta_ids": meta_ids.tolist(), "meta_xy": xy[:k].tolist(),
            "entity_ids": ids_a.tolist(), "entity_group": groups_a.tolist(),
            "entity_anchor": snap["anchor"][ids_a].tolist(),
            "entity_anchor_init": init_anchor[ids_a].tolist(),
            "entity_anchor_weight": snap["anchor_weight"][ids_a].tolist(),
            "entity_xy": xy[k:].tolist(),
            "group_sizes": counts[SNAPSHOT_STAGES.index(stage)][meta_ids].tolist(),
            "test_metrics": snap["metrics"],
        })

    metrics = {f"{name}@20_{stage}": snap["metrics"][f"{name}@20"]
               for stage, snap in zip(SNAPSHOT_STAGES, snaps) for name in ("ndcg", "recall")}
    metrics["anchor_changed_frac"] = float((snaps[1]["anchor"] != snaps[2]["anchor"]).mean())
    metrics["num_params"] = float(model.num_params())
    record = {
        **exp.label(), "table": "Figure 2", "method": "LEGCF", "variant": "", "dataset": dataset, "seed": seed,
        "epochs": p + res2.epochs_run,
        "best_epoch": p + res2.best_epoch if res2.best_epoch > 0 else None,
        "metrics": metrics,
        "valid_metrics": res2.select_metrics,
        "snapshots": snapshots,
        "history": history,
        "config": {"model_class": type(model).__name__, "model": _plain(base), "train": _plain(train_cfg),
                   "pretrain_epochs": p, "phase1_train": _plain(phase1),
                   "phase2_train": _plain(phase2), "dataset": dataset, "paper_dataset": exp.dataset,
                   "protocol": exp.protocol, "n_users": int(data.n_users), "n_items": int(data.n_items),
                   "n_meta_sampled": len(meta_ids), "per_meta": per_meta, "group_by": group_by,
                   "source_experiment": {**exp.label()}},
        "wall_time_s": time.perf_counter() - t0,
        "notes": (f"Fig. 2: (a) initialisation, (b) after {p} pre-training epochs with S fixed (exactly the "
                  f"single run's first {p} epochs), (c) the validation-selected state ({train_cfg.select_metric}) of "
                  f"the remaining {total - p} epochs with S updated right away and every {base.update_every} "
                  "epoch(s); the learning-rate schedule restarts at the phase boundary (from the single run's rate "
                  "at epoch P to its final rate) and Adam's moments restart - a deviation from a single run, only "
                  f"for this figure; {len(meta_ids)} meta-embeddings sampled among those anchoring entities in every "
                  f"panel, up to {per_meta} entities each grouped by their {group_by} anchor; t-SNE (PCA init, "
                  f"random_state {seed}) per panel of E_meta rows and composed layer-0 embeddings, scaled to "
                  f"[-1, 1]; test metrics of the model at each panel{note_sampling}"),
        "provenance": launched,
    }
    if write:
        record["_path"] = str(rec.write_record(record, profile))
    return record


# ------------------------------------------------------------------- analyses of a trained LEGCF run
_SOURCE_KEYS = ("paper", "table", "method", "variant", "dataset", "seed", "best_epoch", "epochs")


def _trained_legcf(exp: Experiment, profile: str, seed: int, who: str):
    """``(model, data, source record or {})`` for the selected state of the LEGCF experiment ``exp``."""
    from .experiment import trained_model
    from .models.legcf import LEGCF

    model, data, source = trained_model(exp, profile=profile, seed=seed)
    if not isinstance(model, LEGCF):
        raise TypeError(f"{who} needs a LEGCF experiment, got a {type(model).__name__}")
    return model, data, source or {}


def _analysis_record(label: dict, model, data, seed: int, source: dict, metrics: dict, config: dict,
                     notes: str, t0: float, profile: str, write: bool, **extra) -> dict:
    """The record of an analysis of a trained run (written to ``results/<profile>/`` when ``write``)."""
    record = {
        **label, "dataset": data.name, "seed": seed, **extra,
        "epochs": source.get("epochs"), "best_epoch": source.get("best_epoch"),
        "metrics": metrics,
        "config": {"model": _plain(model.config), **config,
                   "source_record": {k: source.get(k) for k in _SOURCE_KEYS}},
        "wall_time_s": time.perf_counter() - t0,
        "notes": notes,
        "provenance": rec.provenance(device=device_name()),
    }
    if write:
        record["_path"] = str(rec.write_record(record, profile))
    return record


# ----------------------------------------------------------------------------------------- Figure 3
def assignment_weights(exp: Experiment, profile: str = "quick", seed: int = 2020, n_sampled: int = 20,
                       write: bool = True) -> dict:
    """Fig. 3 for the LEGCF experiment ``exp``: the average assignment weight of ``n_sampled`` meta-embeddings
    at initialisation and in the trained model.

    The paper's definition (caption of Fig. 3): the weight meta-embedding j receives, averaged over *all* N
    users and items, i.e. the column mean of S (zeros included), hence the small magnitudes. The average over
    the entities that do use j (the non-zeros of column j) and the number of those entities are kept as well.
    The trained model is the run's selected state (:func:`qlib.experiment.trained_model`: this machine's saved
    weights, or trained now); the initial S is rebuilt from the seed exactly as the run built it. The
    meta-embeddings are sampled with ``numpy.random.default_rng(seed)`` among all c. Returns the record
    (paper "LEGCF", table "Figure 3"; ``points`` holds one row per sampled meta-embedding), written to
    ``results/<profile>/`` when ``write``."""
    t0 = time.perf_counter()
    model, data, source = _trained_legcf(exp, profile, seed, "assignment_weights")
    c = model.config.n_meta
    n = data.n_users + data.n_items
    if not 1 <= n_sampled <= c:
        raise ValueError(f"n_sampled must be in [1, c={c}], got {n_sampled}")
    seed_everything(seed)
    initial = exp.model_factory(data, build_norm_adj(data.train))
    metas = np.sort(np.random.default_rng(seed).choice(c, n_sampled, replace=False))

    def columns(m) -> tuple[np.ndarray, np.ndarray]:
        idx, val = m.assignment()
        sums = np.bincount(idx.ravel(), weights=val.ravel(), minlength=c)
        users = np.bincount(idx.ravel(), weights=(val.ravel() != 0), minlength=c)
        return sums, users

    (s0, n0), (s1, n1) = columns(initial), columns(model)
    points = [{"meta": int(j), "initial": float(s0[j] / n), "final": float(s1[j] / n),
               "initial_among_users": float(s0[j] / n0[j]) if n0[j] else 0.0,
               "final_among_users": float(s1[j] / n1[j]) if n1[j] else 0.0,
               "initial_users": int(n0[j]), "final_users": int(n1[j])} for j in metas]
    anchors0, anchors1 = initial.assignment()[0][:, 0], model.assignment()[0][:, 0]

    def top_share(sums: np.ndarray, k: int = 10) -> float:
        return float(np.sort(sums)[::-1][:k].sum() / sums.sum()) if sums.sum() > 0 else 0.0

    fidelity = {f"update_{k}": v for k, v in update_fidelity(model).items()}
    metrics = {**fidelity, "anchor_changed_frac": float((anchors0 != anchors1).mean()), "n_updates": float(model.n_updates),
               "top10_weight_share_initial": top_share(s0), "top10_weight_share_final": top_share(s1),
               "unused_meta_frac_initial": float((n0 == 0).mean()), "unused_meta_frac_final": float((n1 == 0).mean())}
    notes = ("Fig. 3: column means of S over all N users and items (the paper's caption), for "
             f"{n_sampled} meta-embeddings sampled with seed {seed}, at initialisation (rebuilt from the seed) "
             "and in the run's selected state; also the mean over the entities using each meta-embedding, "
             "and the share of the total weight held by the 10 heaviest of all c meta-embeddings; update_* "
             "metrics: how faithful one more assignment update would be from the trained state "
             "(qlib.legcf_analysis.update_fidelity)")
    return _analysis_record({**exp.label(), "table": "Figure 3", "method": "LEGCF", "variant": ""}, model, data,
                            seed, source, metrics, {"n_sampled": n_sampled, "n_entities": n}, notes, t0, profile,
                            write, points=points)


def update_fidelity(model, batch_rows: int = 16384) -> dict[str, float]:
    """How faithful one assignment update would be from ``model``'s current state (a LEGCF model).

    The update solves S H_meta = H_full in the least-squares, minimum-norm sense (S = H_full H_meta^+) and
    keeps each row's t largest values. Reported: the relative residual ||S H_meta - H_full||_F / ||H_full||_F
    of the dense solution and of the top-t one (negative kept values clamped to 0, as the model does); the
    share of the dense rows' squared norm that the t kept values hold; and the norm of the composed layer-0
    embeddings E_hat = S E_meta under the top-t S relative to the model's current E_hat (a value far below 1
    means the update shrinks every entity's embedding)."""
    import torch

    with torch.no_grad():
        h = model.update_representation()
        n = model.n_users + model.n_items
        h_full, h_meta = h[:n], h[n:]
        pinv = torch.linalg.pinv(h_meta)
        t = model.config.t
        res_dense = res_top = kept = total = new_norm = 0.0
        for start in range(0, n, batch_rows):
            hb = h_full[start:start + batch_rows]
            s_b = hb @ pinv
            vals, idx = torch.topk(s_b, t, dim=1)
            vals = vals.clamp_min(0.0)
            top = torch.zeros_like(s_b).scatter_(1, idx, vals)
            res_dense += float(((s_b @ h_meta - hb) ** 2).sum())
            res_top += float(((top @ h_meta - hb) ** 2).sum())
            kept += float((vals ** 2).sum())
            total += float((s_b ** 2).sum())
            new_norm += float(((top @ model.meta) ** 2).sum())
        ref = float((h_full ** 2).sum())
        cur_norm = float((model._ego() ** 2).sum())
    return {"residual_dense": (res_dense / ref) ** 0.5 if ref > 0 else float("nan"),
            "residual_top_t": (res_top / ref) ** 0.5 if ref > 0 else float("nan"),
            "top_t_norm_share": kept / total if total > 0 else float("nan"),
            "ego_norm_ratio": (new_norm / cur_norm) ** 0.5 if cur_norm > 0 else float("nan")}


def fidelity_record(exp: Experiment, profile: str = "quick", seed: int = 2020, write: bool = True) -> dict:
    """:func:`update_fidelity` of the trained model of the LEGCF experiment ``exp`` (its selected state, see
    :func:`qlib.experiment.trained_model`), recorded as table "Update fidelity" with ``exp``'s variant. For a
    run whose S was never updated (``assignment_update=off``), it says what the first update would do."""
    t0 = time.perf_counter()
    model, data, source = _trained_legcf(exp, profile, seed, "fidelity_record")
    metrics = {**update_fidelity(model), "n_updates": float(model.n_updates)}
    notes = ("what one assignment update (Eqs. 14-16) would do from the run's selected state: relative "
             "residuals of the dense and top-t solutions, the norm share the top-t values keep, and the "
             "norm of the new E_hat relative to the current one (qlib.legcf_analysis.update_fidelity)")
    return _analysis_record({**exp.label(), "table": "Update fidelity"}, model, data, seed, source, metrics, {},
                            notes, t0, profile, write, source_table=exp.table)


# ------------------------------------------------------------------------------- the two stages of a run
def stage_curves(records: Iterable[dict], metric: str = "ndcg@5"):
    """Validation ``metric`` of LEGCF runs around the end of pre-training, from the records' learning curves.

    Returns ``(curves, summary)``: ``curves`` has one row per evaluation (table, variant, dataset, seed,
    epoch, value, stage "pretrain" | "update"); ``summary`` one row per run with P (the epoch pre-training
    ends: the model config's ``pretrain_epochs``, else half the run), whether S is updated, the value at the
    last evaluation of pre-training, at the first evaluation after it, the best after it and the last one.
    Records without validation evaluations (selection on test) or of other models are skipped."""
    import pandas as pd

    key = f"valid_{metric}"
    curve_rows, summary_rows = [], []
    for r in records:
        if r.get("paper") != "LEGCF" or r.get("method") != "LEGCF" or "history" not in r:
            continue
        model_cfg = (r.get("config") or {}).get("model") or {}
        epochs = int(((r.get("config") or {}).get("train") or {}).get("epochs") or r.get("epochs") or 0)
        p = model_cfg.get("pretrain_epochs")
        p = int(p) if p is not None else epochs // 2
        points = [(int(h["epoch"]), float(h[key])) for h in r["history"] if key in h]
        if not points:
            continue
        label = {"table": r.get("table"), "variant": r.get("variant", ""), "dataset": r.get("dataset"),
                 "seed": r.get("seed")}
        curve_rows += [{**label, "epoch": e, metric: v, "stage": "pretrain" if e <= p else "update"}
                       for e, v in points]
        before = [v for e, v in points if e <= p]
        after = [v for e, v in points if e > p]
        summary_rows.append({**label, "P": p, "updates": bool(model_cfg.get("update_assignment", True)),
                             "end of pre-training": before[-1] if before else np.nan,
                             "first after P": after[0] if after else np.nan,
                             "best after P": max(after) if after else np.nan,
                             "last": points[-1][1]})
    return pd.DataFrame(curve_rows), pd.DataFrame(summary_rows)


# ----------------------------------------------------------------------------------------- Figure 4
#: Fig. 4's sweeps: (label, LEGCFConfig field, values tested by the paper)
SENSITIVITY_GRID = (
    ("t", "t", (1, 2, 3, 4, 5)),
    ("m", "update_every", (1, 2, 3, 5, 10)),
    ("w*", "anchor_weight", (0.5, 0.6, 0.7, 0.8, 0.9)),
    ("c", "n_meta", (100, 500, 1000, 5000, 10000)),
)
_FIELD = {label: field for label, field, _ in SENSITIVITY_GRID}


def sensitivity_experiments(dataset: str | Sequence[str] = "gowalla", epochs: int | None = None) -> list[Experiment]:
    """Fig. 4: LEGCF at Sec. 4.1's setting (:func:`qlib.catalog.legcf_config`) with one of t, m (update
    every m epochs), w* (initial anchor weight) or c (meta-embeddings) changed at a time, over the paper's
    grids (:data:`SENSITIVITY_GRID`). The value of the default setting (t = 2, m = 1, the dataset's w*,
    c = 500) is skipped: that point of every sweep is Table 2's LEGCF record
    (:func:`qlib.catalog.legcf_table2_experiments`), merged in by :func:`sensitivity_frame`.
    Table "Figure 4", method "LEGCF", variant ``"<label>=<value>"`` (e.g. ``"w*=0.7"``)."""
    from .catalog import _legcf_experiment, legcf_config
    from .models.legcf import legcf_factory

    datasets = (dataset,) if isinstance(dataset, str) else tuple(dataset)
    out = []
    for ds in datasets:
        default = legcf_config(ds)
        for label, field, values in SENSITIVITY_GRID:
            for v in values:
                if math.isclose(float(getattr(default, field)), float(v)):
                    continue  # the Table 2 run
                cfg = legcf_config(ds, **{field: v})
                variant = f"{label}={v:g}"
                exp = _legcf_experiment("Figure 4", "LEGCF", variant, ds, legcf_factory(cfg), cfg, epochs=epochs)
                exp.notes += (f"; Fig. 4 sweep of {label} ({field}) at {v:g}, everything else at the default; "
                              "the default point is Table 2's LEGCF run")
                exp.extra = {"sweep_parameter": label, "sweep_value": v}
                out.append(exp)
    return out


def _parse_variant(variant: str) -> tuple[str, float] | None:
    label, sep, value = str(variant).partition("=")
    if not sep or label not in _FIELD:
        return None
    try:
        return label, float(value)
    except ValueError:
        return None


def sensitivity_frame(records: Iterable[dict]):
    """Fig. 4's points as a DataFrame with columns dataset, parameter, value, ndcg@20, recall@20, n_seeds,
    ndcg@20 std, recall@20 std (sample std over seeds, NaN for one seed), default, epochs: test metrics
    averaged over seeds (per seed first, so a seed counts once). Points come
    from LEGCF records of table "Figure 4" (parameter and value from the variant, e.g. "t=3") and, as the
    default point of every sweep, from Table 2's LEGCF records (method "LEGCF", variant "") of the same
    datasets, placed at their own t, m, w* and c (read from the record's model config). A warning is issued
    when the Table 2 and Figure 4 records of a dataset were trained for different numbers of epochs."""
    import pandas as pd

    records = list(records)
    rows = []
    fig4_epochs: dict[str, set] = {}
    for r in records:
        if r.get("paper") != "LEGCF" or r.get("table") != "Figure 4" or r.get("method") != "LEGCF":
            continue
        parsed = _parse_variant(r.get("variant", ""))
        if parsed is None:
            continue
        fig4_epochs.setdefault(r["dataset"], set()).add(r.get("epochs"))
        rows.append({"dataset": r["dataset"], "parameter": parsed[0], "value": parsed[1], "seed": r.get("seed"),
                     "ndcg@20": r["metrics"].get("ndcg@20", np.nan), "recall@20": r["metrics"].get("recall@20", np.nan),
                     "default": False, "epochs": r.get("epochs")})
    for r in records:
        if (r.get("paper"), r.get("table"), r.get("method"), r.get("variant")) != ("LEGCF", "Table 2", "LEGCF", ""):
            continue
        ds = r["dataset"]
        if ds not in fig4_epochs:
            continue
        if r.get("epochs") not in fig4_epochs[ds]:
            warnings.warn(f"{ds}: Table 2's LEGCF record ran {r.get('epochs')} epochs, the Figure 4 records "
                          f"{sorted(e for e in fig4_epochs[ds] if e is not None)}: the default point is not comparable",
                          stacklevel=2)
        model_cfg = (r.get("config") or {}).get("model") or {}
        if not model_cfg:
            from .catalog import legcf_config

            model_cfg = _plain(legcf_config(r.get("config", {}).get("paper_dataset", ds)))
        for label, field, _ in SENSITIVITY_GRID:
            rows.append({"dataset": ds, "parameter": label, "value": float(model_cfg[field]), "seed": r.get("seed"),
                         "ndcg@20": r["metrics"].get("ndcg@20", np.nan),
                         "recall@20": r["metrics"].get("recall@20", np.nan), "default": True,
                         "epochs": r.get("epochs")})
    columns = ["dataset", "parameter", "value", "ndcg@20", "recall@20", "n_seeds", "ndcg@20 std", "recall@20 std",
               "default", "epochs"]
    if not rows:
        return pd.DataFrame(columns=columns)
    df = pd.DataFrame(rows)
    df["seed"] = df["seed"].fillna(-1)
    keys = ["dataset", "parameter", "value"]
    per_seed = df.groupby(keys + ["seed"], sort=False).agg(
        {"ndcg@20": "mean", "recall@20": "mean", "default": "any", "epochs": "max"}).reset_index()
    out = per_seed.groupby(keys, sort=False).agg(
        **{"ndcg@20": ("ndcg@20", "mean"), "recall@20": ("recall@20", "mean"), "n_seeds": ("seed", "nunique"),
           "ndcg@20 std": ("ndcg@20", "std"), "recall@20 std": ("recall@20", "std"),
           "default": ("default", "any"), "epochs": ("epochs", "max")}).reset_index()
    order = {label: i for i, (label, _, _) in enumerate(SENSITIVITY_GRID)}
    out = out.assign(_o=out["parameter"].map(order)).sort_values(["dataset", "_o", "value"]).drop(columns="_o")
    return out[columns].reset_index(drop=True)


#: a point further than this many of the default's seed spreads from it is read as above or below it
SEED_STDS_APART = 2.0


def versus_default(sens, metrics=("ndcg@20", "recall@20")):
    """Each non-default point of :func:`sensitivity_frame` against its dataset's default point: for every
    metric, the change in % (``<m> vs default %``), the change in units of the default's sample std over
    seeds (``<m> vs default (seed stds)``; NaN when the default has one seed) and a reading of it
    (``reading (<m>)``: above / below the default beyond :data:`SEED_STDS_APART` spreads, else not told
    apart). A sweep's default is the same run (Table 2's) for every parameter, so it is looked up per dataset."""
    moved = sens[~sens["default"].astype(bool)].copy()
    base = sens[sens["default"].astype(bool)].drop_duplicates("dataset").set_index("dataset")
    for m in metrics:
        ref_mean, ref_std = moved["dataset"].map(base[m]), moved["dataset"].map(base[f"{m} std"])
        moved[f"{m} vs default %"] = 100 * (moved[m] / ref_mean - 1)
        moved[f"{m} vs default (seed stds)"] = (moved[m] - ref_mean) / ref_std
        moved[f"reading ({m})"] = moved[f"{m} vs default (seed stds)"].map(_read_seed_stds)
    return moved.reset_index(drop=True)


def _read_seed_stds(z: float) -> str:
    if z != z:   # NaN
        return "not measured (one default seed)"
    if z > SEED_STDS_APART:
        return "above the default"
    if z < -SEED_STDS_APART:
        return "below the default"
    return "not told apart from the default"
