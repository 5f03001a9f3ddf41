"""The L2Q-GCN chapter's analyses that are not training runs, recorded like runs.

- :func:`resource_records`: Fig. 5 / appendix Table 3, embedding size on disk and inference time of
  LightGCN, L2Q-GCN_end and L2Q-GCN_anl at the figure's setting (L = 2, d = 128 for all models), and of
  HashGNN (hard and soft) on the figure's dataset (Yelp2018; table "Figure 5(a)"). Size and
  time depend on the shapes and types of what is stored, not on the trained values, so the models are
  measured at their initialisation (stated in each record).
- :func:`landscape_record`: Fig. 3, the loss surface of a trained L2Q-GCN_end under Eq. 11's
  perturbations, quantized and full precision (:mod:`qlib.landscape`).
- :func:`selected_and_last`: a recorded run read at its selected evaluation and at its last one (how much
  of a comparison is test-set epoch selection).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from . import record as rec
from .data import load_dataset
from .experiment import Experiment, device_name, trained_model
from .graph import build_norm_adj
from .landscape import loss_landscape, perturbation_grid
from .models import HashGNN, HashGNNConfig, L2QGCN, L2QGCNConfig, LightGCN, LightGCNConfig
from .recipes import get_profile
from .resources import eq14_bits, inference_time, size_on_disk_mib, stored_representation
from .sampling import TripleSampler
from .train import seed_everything

__all__ = ["RESOURCE_METHODS", "FIGURE5_METHODS", "FIGURE5_DATASET", "resource_records", "landscape_record",
           "roughness", "lsh_record", "selected_and_last"]

MIB = 2 ** 20

#: method -> model builder at Fig. 5's setting (L = 2, d = 128)
RESOURCE_METHODS = {
    "LightGCN": lambda data, adj: LightGCN(adj, data.n_users, data.n_items, LightGCNConfig(dim=128, n_layers=2)),
    "L2Q-GCN_end": lambda data, adj: L2QGCN(adj, data.n_users, data.n_items,
                                            L2QGCNConfig(variant="end", emb_dim=128, code_dim=128, n_layers=2)),
    "L2Q-GCN_anl": lambda data, adj: L2QGCN(adj, data.n_users, data.n_items,
                                            L2QGCNConfig(variant="anl", emb_dim=128, code_dim=128, n_layers=2)),
}


def _hashgnn(variant: str):
    """A builder of HashGNN (``variant`` hard or soft) at the figure's setting, as the Table 2 baselines."""
    def build(data, adj):
        return HashGNN(adj, data.n_users, data.n_items,
                       HashGNNConfig(variant=variant, emb_dim=128, hidden_dim=128, code_dim=128, n_layers=2))
    return build


#: Fig. 5(a)'s dataset and the models only the figure shows
FIGURE5_DATASET = "yelp2018"
FIGURE5_METHODS = {"HashGNN": _hashgnn("hard"), "HashGNN-soft": _hashgnn("soft")}


def resource_records(dataset: str, profile: str = "quick", user_sample: int | None = 2048, seed: int = 2020,
                     write: bool = True) -> list[dict]:
    """One appendix-Table-3 record per method for ``dataset`` (the profile's dataset at smoke/quick)."""
    prof = get_profile(profile)
    name = prof.dataset(dataset)
    data = load_dataset(name, protocol="paper", seed=seed)
    adj = build_norm_adj(data.train)
    out = []
    methods = {**RESOURCE_METHODS, **(FIGURE5_METHODS if dataset == FIGURE5_DATASET else {})}
    for method, build in methods.items():
        seed_everything(seed)
        model = build(data, adj)
        t0 = time.perf_counter()
        stored = stored_representation(model)
        n = data.n_users + data.n_items
        paper = inference_time(stored, "paper", user_sample=user_sample, seed=seed)
        blas = inference_time(stored, "blas", user_sample=user_sample, seed=seed)
        n_codes = stored.codes.shape[1] if stored.codes is not None else None   # L+1; HashGNN: 1
        record = {
            "paper": "L2Q-GCN", "table": "Appendix Table 3" if method in RESOURCE_METHODS else "Figure 5(a)",
            "dataset": name, "method": method, "variant": "",
            "protocol": "paper", "seed": seed, "epochs": 0,
            "metrics": {"embedding_size": size_on_disk_mib(stored),
                        "embedding_size_eq14": eq14_bits(n, 128, 2, stored.kind, n_codes) / 8 / MIB,
                        "inference_time": paper["seconds"], "inference_time_blas": blas["seconds"]},
            "timing": {"paper": paper, "blas": blas},
            "config": {"model_class": type(model).__name__, "dim": 128, "n_layers": 2, "stored": stored.kind,
                       "paper_dataset": dataset, "user_sample": user_sample},
            "wall_time_s": time.perf_counter() - t0,
            "notes": "sizes in MiB of the saved representation (bit-packed codes; fp32 table or factors); "
                     "inference_time = score + full sort for all users with BLAS disabled (NumPy einsum loops; "
                     "codes in integer arithmetic), inference_time_blas = fp32 BLAS products + top-100; times "
                     f"measured on {user_sample} sampled users and scaled to all users; models at initialisation "
                     "(size and time depend on shapes, not trained values)"
                     + ("; HashGNN-soft at initialisation ranks every node by its continuous vector (guidance "
                        "beta = 0): stored as the fp32 table plus one selector bit per node; the trained model's "
                        "rows ranked by codes could be stored as bits (its Table 2 record's storage_bits)"
                        if method == "HashGNN-soft" else ""),
            "provenance": rec.provenance(device=device_name()),
        }
        if write:
            record["_path"] = str(rec.write_record(record, profile))
        out.append(record)
    return out


def roughness(surface: np.ndarray) -> float:
    """Mean absolute discrete Laplacian of a loss surface divided by its mean value (0 for a plane):
    one number for "flat and smooth" vs "bumping and complex"."""
    s = np.asarray(surface, dtype=float)
    lap = s[1:-1, 2:] + s[1:-1, :-2] + s[2:, 1:-1] + s[:-2, 1:-1] - 4 * s[1:-1, 1:-1]
    return float(np.abs(lap).mean() / np.abs(s).mean())


def landscape_record(exp: Experiment, profile: str = "quick", seed: int = 2020, n_triples: int = 8192,
                     max_p: float = 0.5, step: float = 0.05, write: bool = True) -> dict:
    """Fig. 3 for the trained model of ``exp`` (an L2Q-GCN experiment): loss over the (p_u, p_i) grid on a
    fixed sample of training triples, quantized and with the quantizer switched off."""
    model, data, trained = trained_model(exp, profile=profile, seed=seed)
    t0 = time.perf_counter()
    triples = TripleSampler(data.train).sample(seed, 0)
    take = slice(0, min(n_triples, len(triples)))
    users, pos, neg = triples.users[take], triples.pos[take], triples.neg[take]
    ps = perturbation_grid(max_p, step)
    quant = loss_landscape(model, users, pos, neg, ps, quantized=True)
    full = loss_landscape(model, users, pos, neg, ps, quantized=False)
    record = {
        "paper": "L2Q-GCN", "table": "Figure 3", "dataset": trained["dataset"], "method": exp.method,
        "variant": exp.variant, "protocol": exp.protocol, "seed": seed, "epochs": trained["epochs"],
        "metrics": {"roughness_quantized": roughness(quant), "roughness_full_precision": roughness(full),
                    "loss_at_origin_quantized": float(quant[len(ps) // 2, len(ps) // 2]),
                    "loss_at_origin_full_precision": float(full[len(ps) // 2, len(ps) // 2])},
        "landscape": {"p": ps.tolist(), "quantized": quant.tolist(), "full_precision": full.tolist(),
                      "n_triples": int(users.shape[0])},
        "config": {"trained_record": trained.get("_path"), "model": trained["config"]["model"]},
        "wall_time_s": time.perf_counter() - t0,
        "notes": "Eq. 11: every user's (item's) layer embeddings shifted by p_u (p_i) times their mean absolute "
                 "entry; the total training loss (L_rec + L_bpr + L2) of a fixed sample of training triples; "
                 "full precision = the same trained model with the quantizer switched to the identity",
        "provenance": rec.provenance(device=device_name()),
    }
    if write:
        record["_path"] = str(rec.write_record(record, profile))
    return record


def lsh_record(dataset: str, profile: str = "quick", seed: int = 2020, n_bits: int = 128, write: bool = True) -> dict:
    """Table 2's LSH row: sign codes of random Gaussian projections (``n_bits`` hyperplanes shared by users and
    items) of the trained LightGCN of the same table (L = 2, d = 128), evaluated like every model."""
    from .catalog import L2Q_KS, l2q_lightgcn_experiments
    from .metrics import evaluate
    from .models import FixedCodes
    from .train import evaluation_split

    base = l2q_lightgcn_experiments((dataset,))[0]
    model, data, trained = trained_model(base, profile=profile, seed=seed)
    t0 = time.perf_counter()
    with torch.no_grad():
        users, items = model.forward()
    codes = FixedCodes.from_lsh(users, items, n_bits=n_bits, seed=seed)
    target, exclude = evaluation_split(data, "test")
    metrics = evaluate(codes.scorer(), target, exclude, L2Q_KS)
    record = {
        "paper": "L2Q-GCN", "table": "Table 2", "dataset": trained["dataset"], "method": "LSH", "variant": "",
        "protocol": "paper", "seed": seed, "epochs": 0,
        "metrics": {**metrics, "storage_bits": float(codes.storage_bits()), "num_params": 0.0},
        "config": {"n_bits": n_bits, "base_record": trained.get("_path"), "base_model": trained["config"]["model"]},
        "wall_time_s": time.perf_counter() - t0,
        "notes": f"LSH: {n_bits} random Gaussian hyperplanes (seed {seed}) applied to the trained LightGCN outputs of "
                 "L2Q-GCN's LightGCN row; no training; the test metrics of those codes (no selection involved)",
        "provenance": rec.provenance(device=device_name()),
    }
    if write:
        record["_path"] = str(rec.write_record(record, profile))
    return record


def selected_and_last(run: dict, metric: str = "recall@20") -> dict:
    """A recorded run's test ``metric`` at its selected evaluation (the record's best epoch) and at its
    last evaluation, and its evaluations' peak over the states it could select (annealing's full-precision
    phase excluded, as in training). Keys: best_epoch, selected, last_epoch, last, decline_after_best
    (relative drop from the selected value to the last one, 0 when the run ends at its best)."""
    key = f"test_{metric}"
    evals = [h for h in run.get("history", []) if key in h]
    if not evals:
        raise ValueError(f"record {run.get('method')} {run.get('variant')!r} on {run.get('dataset')} has no "
                         f"test {metric} in its history; re-run it with evaluations recorded")
    last = evals[-1]
    selected = run["metrics"][metric]
    return {"best_epoch": run["best_epoch"], "selected": selected, "last_epoch": last["epoch"],
            "last": last[key], "decline_after_best": (selected - last[key]) / selected if selected else float("nan")}
