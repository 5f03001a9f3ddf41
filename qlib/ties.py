"""Ties in full-ranking evaluation: how much of a top-K list is decided among equal scores, and how far the
metrics move with the rule that breaks those ties.

Binary codes give few distinct scores (the inner product of two d-bit sign codes takes d + 1 values), so a
user's top K often ends inside a group of items that share the K-th score; which of them enter the list is
then decided by the tie-break rule, not by the model. :func:`tie_broken` wraps a scorer so that a named rule
decides every tie exactly; :func:`tie_profile` measures how many top-K slots ties decide.

Rules (:data:`TIE_RULES`):

- ``as-is``: the scorer unchanged, ties left to ``torch.topk`` (what every record of this project uses);
- ``low-index``: the lower item id first, as TensorFlow's ``tf.nn.top_k`` documents for equal values;
- ``random``: a seeded uniform order of the items (the expected value over many seeds is the fair figure);
- ``optimistic`` / ``pessimistic``: the user's relevant items first / last among equal scores. These use the
  test items and are bounds on what any tie-break could give, not a ranking a model could produce; ties
  among equally relevant items stay with ``torch.topk``, which changes no metric.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from .metrics import _discounts, _rows_cols, top_hits

__all__ = ["TIE_RULES", "tie_broken", "tie_profile", "hits_ndcg_upper_bound"]

TIE_RULES = ("as-is", "low-index", "random", "optimistic", "pessimistic")

#: float32 represents every integer below 2^24 exactly: the composed key must stay under it
_EXACT_FLOAT32 = 2 ** 24

Scorer = Callable[[torch.Tensor], torch.Tensor]


def _relevant_mask(target: sp.csr_matrix, users: np.ndarray, n_items: int) -> torch.Tensor:
    r, c = _rows_cols(target, users)
    mask = torch.zeros(len(users), n_items, dtype=torch.bool)
    mask[torch.from_numpy(r), torch.from_numpy(c)] = True
    return mask


def _masked(scores: torch.Tensor, exclude: Sequence[sp.csr_matrix], users: np.ndarray) -> torch.Tensor:
    for mat in exclude:
        r, c = _rows_cols(mat, users)
        scores[torch.from_numpy(r), torch.from_numpy(c)] = -torch.inf
    return scores


def _users_with_targets(target: sp.csr_matrix, what: str) -> np.ndarray:
    users = np.flatnonzero(np.diff(target.indptr) > 0)
    if len(users) == 0:
        raise ValueError(f"no user has a target item in this split: nothing to {what}")
    return users


def tie_broken(scorer: Scorer, rule: str, n_items: int, target: sp.csr_matrix | None = None,
               seed: int = 0) -> Scorer:
    """``scorer`` with every tie decided by ``rule`` (one of :data:`TIE_RULES`).

    The wrapped scorer returns, per user, the dense rank of each score among the batch's distinct scores
    times ``n_items`` plus the rule's key (``0 <= key < n_items``), in float32: the order of distinct scores
    is kept and equal scores are ordered by the key, exactly (integers below 2^24). That needs few distinct
    scores (codes); a scorer with more than ``2^24 / n_items`` distinct values in a batch raises, since its
    ties are rare and the rule would not be applied exactly. ``optimistic``/``pessimistic`` need ``target``
    (the evaluated split, user rows as passed to the scorer).
    """
    if rule not in TIE_RULES:
        raise ValueError(f"unknown tie rule {rule!r}; choose one of {TIE_RULES}")
    if rule == "as-is":
        return scorer
    if rule in ("optimistic", "pessimistic") and target is None:
        raise ValueError(f"the {rule!r} tie rule ranks relevant items first/last: pass the evaluated split as target")
    target = sp.csr_matrix(target) if target is not None else None
    if rule == "random":
        order = torch.randperm(n_items, generator=torch.Generator().manual_seed(seed))
    elif rule == "low-index":
        order = torch.arange(n_items - 1, -1, -1)
    else:
        order = None

    def wrapped(users: torch.Tensor) -> torch.Tensor:
        scores = scorer(users).float().cpu()
        if scores.shape[1] != n_items:
            raise ValueError(f"the scorer ranks {scores.shape[1]} items, the tie rule was built for {n_items}")
        values, dense = torch.unique(scores, sorted=True, return_inverse=True)
        if len(values) * n_items >= _EXACT_FLOAT32:
            raise ValueError(f"{len(values)} distinct scores x {n_items} items cannot be ordered exactly in float32; "
                             "tie rules are meant for code scores with few distinct values")
        if order is not None:
            key = order.expand_as(dense)
        else:
            rel = _relevant_mask(target, users.cpu().numpy(), n_items)
            key = rel if rule == "optimistic" else ~rel
        return (dense * n_items + key).float()

    return wrapped


@torch.no_grad()
def tie_profile(scorer: Scorer, target: sp.csr_matrix, exclude: Sequence[sp.csr_matrix] = (), k: int = 20,
                batch_size: int = 1024) -> dict[str, float]:
    """How many of each user's top-``k`` slots ties decide, averaged over users with a target item.

    Per user (excluded items masked, as :func:`qlib.metrics.evaluate` does): ``distinct_scores``, the number
    of distinct finite scores; ``tied_at_k``, the size of the group of items sharing the ``k``-th score;
    ``slots_decided_by_ties``, how many of the top ``k`` come from that group (0 when the group fits inside
    the list, i.e. no tie crosses the cut); ``users_with_tie_at_cut``, the share of users whose group
    crosses the cut.
    """
    target = sp.csr_matrix(target)
    users_all = _users_with_targets(target, "profile")
    sums = {"distinct_scores": 0.0, "tied_at_k": 0.0, "slots_decided_by_ties": 0.0, "users_with_tie_at_cut": 0.0}
    for start in range(0, len(users_all), batch_size):
        users = users_all[start:start + batch_size]
        scores = _masked(scorer(torch.from_numpy(users)).float().cpu(), exclude, users)
        kth = torch.topk(scores, k, dim=1).values[:, -1:]
        group = (scores == kth).sum(1)
        above = (scores > kth).sum(1)
        crosses = group > (k - above)
        sorted_scores = scores.sort(dim=1).values
        distinct = ((sorted_scores[:, 1:] != sorted_scores[:, :-1]) & torch.isfinite(sorted_scores[:, 1:])).sum(1) \
            + torch.isfinite(sorted_scores[:, 0]).long()
        sums["distinct_scores"] += float(distinct.sum())
        sums["tied_at_k"] += float(group.sum())
        sums["slots_decided_by_ties"] += float(torch.where(crosses, k - above, 0).sum())
        sums["users_with_tie_at_cut"] += float(crosses.sum())
    return {key: val / len(users_all) for key, val in sums.items()}


@torch.no_grad()
def hits_ndcg_upper_bound(scorer: Scorer, target: sp.csr_matrix, exclude: Sequence[sp.csr_matrix] = (),
                          k: int = 20, width: int = 100, batch_size: int = 1024) -> float:
    """An upper bound, over every order of tied scores, of the hits-only NDCG@``k`` whose ideal DCG counts the
    hits in the top ``width`` (:func:`qlib.metrics.evaluate` with ``max(ks) = width``).

    The ``optimistic`` rule is the exact maximum of Recall@k and of the standard NDCG@k, but not of the
    hits-only NDCG: putting relevant items first also raises the hits found down to ``width``, and with them
    the ideal DCG. Per user, this bound divides the largest DCG@k of any tie order (relevant first) by the
    smallest ideal DCG (relevant last: the fewest hits in the top ``width``), capped at 1 (1 when some order
    has a hit in the top ``k`` but the relevant-last order has none in the top ``width``); averaged over users
    with a target item.
    """
    target = sp.csr_matrix(target)
    users_all = _users_with_targets(target, "bound")
    if width < k:
        raise ValueError(f"width={width} must be at least k={k}")
    n_items = target.shape[1]
    best = tie_broken(scorer, "optimistic", n_items, target)
    worst = tie_broken(scorer, "pessimistic", n_items, target)
    disc = _discounts(k)
    cum_disc = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(disc, 0)])
    total = 0.0
    for start in range(0, len(users_all), batch_size):
        users = users_all[start:start + batch_size]
        u = torch.from_numpy(users)
        top_best = torch.topk(_masked(best(u), exclude, users), k, dim=1).indices
        top_worst = torch.topk(_masked(worst(u), exclude, users), width, dim=1).indices
        dcg = (top_hits(top_best, target, users).to(torch.float64) * disc).sum(1)
        h_min = top_hits(top_worst, target, users).sum(1)
        idcg = cum_disc[torch.clamp(h_min, max=k)]
        bound = torch.where(idcg > 0, (dcg / idcg.clamp(min=1e-12)).clamp(max=1.0), (dcg > 0).to(torch.float64))
        total += float(bound.sum())
    return total / len(users_all)
