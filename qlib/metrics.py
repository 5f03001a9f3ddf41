"""Full-ranking top-K metrics: Recall, Precision, NDCG (standard and the hits-only convention).

Conventions (see the book's protocol page):
- every item is ranked; items the user interacted with in training are masked with -inf;
- users without relevant items in the evaluated split are skipped;
- Recall@K = hits@K / |relevant|; Precision@K = hits@K / K;
- NDCG@K ``standard``: binary gains, discount 1/log2(rank + 1), ideal DCG over min(K, |relevant|) hits;
- NDCG@K ``hits`` (BiGeaR / L2Q-GCN code line): ideal DCG built from the hits actually found in the
  retrieved list (its full width, i.e. the top max(K) items), sorted to the front and cut at K.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["ranking_metrics", "metrics_from_hits", "evaluate", "NDCG_CONVENTIONS"]

NDCG_CONVENTIONS = ("standard", "hits")


def _discounts(k: int) -> torch.Tensor:
    return 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64))


def metrics_from_hits(hits: torch.Tensor, n_relevant: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    """Per-user metric sums from a boolean hit matrix.

    hits: [n_users, W] bool, W >= k, hit flags of the ranked list best-first.
    n_relevant: [n_users] number of relevant items per user (> 0).
    Returns per-user tensors: recall, precision, ndcg (standard), ndcg_hits.
    """
    if hits.shape[1] < k:
        raise ValueError(f"the ranked list has {hits.shape[1]} columns, fewer than k={k}")
    h = hits.to(torch.float64)
    disc = _discounts(k)
    cum_disc = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(disc, 0)])
    hk = h[:, :k]
    n_hits_k = hk.sum(1)
    dcg = (hk * disc).sum(1)
    n_rel = n_relevant.to(torch.float64)
    idcg_std = cum_disc[torch.clamp(n_rel, max=k).long()]
    idcg_hits = cum_disc[torch.clamp(h.sum(1), max=k).long()]
    return {
        "recall": n_hits_k / n_rel,
        "precision": n_hits_k / k,
        "ndcg": torch.where(idcg_std > 0, dcg / idcg_std.clamp(min=1e-12), torch.zeros_like(dcg)),
        "ndcg_hits": torch.where(idcg_hits > 0, dcg / idcg_hits.clamp(min=1e-12), torch.zeros_like(dcg)),
    }


def ranking_metrics(ranked, truth: Sequence, k: int, ndcg: str = "standard") -> dict[str, float]:
    """Recall@k, NDCG@k and Precision@k of ranked lists, averaged over users with non-empty truth.

    ranked: int array [n_users, >= k] of item ids, best first. truth: per user, an array of relevant ids
    (same order as ``ranked``). ndcg: "standard" or "hits" (ideal DCG from the hits found in all of
    ``ranked``'s columns). Returns {"recall", "ndcg", "precision"} as floats.
    """
    if ndcg not in NDCG_CONVENTIONS:
        raise ValueError(f"unknown NDCG convention {ndcg!r}; choose one of {NDCG_CONVENTIONS}")
    ranked = np.asarray(ranked)
    if ranked.ndim != 2:
        raise ValueError(f"ranked must be a 2-d array [n_users, >= k], got shape {ranked.shape}")
    if len(truth) != ranked.shape[0]:
        raise ValueError(f"ranked has {ranked.shape[0]} rows but truth has {len(truth)} users")
    keep = [i for i, t in enumerate(truth) if len(t) > 0]
    if not keep:
        raise ValueError("no user has a relevant item: metrics are undefined")
    hits = np.stack([np.isin(ranked[i], np.asarray(truth[i])) for i in keep])
    n_rel = torch.tensor([len(np.unique(truth[i])) for i in keep])
    per_user = metrics_from_hits(torch.from_numpy(hits), n_rel, k)
    key = "ndcg" if ndcg == "standard" else "ndcg_hits"
    return {"recall": float(per_user["recall"].mean()), "ndcg": float(per_user[key].mean()),
            "precision": float(per_user["precision"].mean())}


def _rows_cols(mat: sp.csr_matrix, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row-in-batch, item) index pairs of the given users' entries in a CSR matrix."""
    start, end = mat.indptr[users], mat.indptr[users + 1]
    counts = end - start
    rows = np.repeat(np.arange(len(users)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    cols = mat.indices[np.repeat(start, counts) + offsets]
    return rows, cols


def top_hits(top: torch.Tensor, target: sp.csr_matrix, users: np.ndarray) -> torch.Tensor:
    """[b, k] bool: whether item ``top[j, r]`` is among user ``users[j]``'s target items. Looks up keys
    row * n_items + item among the target pairs, without a dense [b, n_items] mask."""
    r, c = _rows_cols(target, users)
    n_cols = target.shape[1]
    top_keys = torch.arange(len(users)).unsqueeze(1) * n_cols + top
    return torch.isin(top_keys, torch.from_numpy(r * n_cols + c))


@torch.no_grad()
def evaluate(
    scorer: Callable[[torch.Tensor], torch.Tensor],
    target: sp.csr_matrix,
    exclude: Sequence[sp.csr_matrix] = (),
    ks: Sequence[int] = (20,),
    batch_size: int = 1024,
) -> dict[str, float]:
    """Full-ranking evaluation of ``scorer`` (user ids -> [b, n_items] scores) against ``target``.

    Items in ``exclude`` matrices (e.g. training interactions) are masked with -inf. Returns
    {"recall@K", "precision@K", "ndcg@K", "ndcg_hits@K"} for every K, averaged over users with
    at least one target item. ``ndcg_hits`` uses the hits found in the top max(ks) list.
    """
    target = sp.csr_matrix(target)
    ks = sorted(set(int(k) for k in ks))
    max_k = ks[-1]
    users_all = np.flatnonzero(np.diff(target.indptr) > 0)
    if len(users_all) == 0:
        raise ValueError("no user has a target item in this split: nothing to evaluate")
    sums: dict[str, float] = {}
    for start in range(0, len(users_all), batch_size):
        users = users_all[start:start + batch_size]
        scores = scorer(torch.from_numpy(users)).float()
        if scores.shape[1] < max_k:
            raise ValueError(f"only {scores.shape[1]} items to rank, fewer than K={max_k}")
        for mat in exclude:
            r, c = _rows_cols(mat, users)
            scores[torch.from_numpy(r).to(scores.device), torch.from_numpy(c).to(scores.device)] = -torch.inf
        top = torch.topk(scores, max_k, dim=1).indices.cpu()   # scores may live on a GPU; the rest is CPU work
        hits = top_hits(top, target, users)
        n_rel = torch.from_numpy(np.diff(target.indptr)[users])
        for k in ks:
            for name, vals in metrics_from_hits(hits, n_rel, k).items():
                key = f"{name}@{k}"
                sums[key] = sums.get(key, 0.0) + float(vals.sum())
    return {key: val / len(users_all) for key, val in sorted(sums.items())}
