"""Vectorised BPR triple sampling (user, positive item, negative item).

Two recipes used by the papers' code:
- ``lightgcn``: one row per training interaction in expectation: users drawn uniformly (among users with
  training items), a uniform positive of that user, one uniform negative the user has not interacted with
  (LightGCN-PyTorch ``UniformSample_original``).
- ``legcf``: users drawn uniformly, one positive each, ``n_neg`` distinct negatives, each its own row
  (LEGCF ``generate_train_samples``; 5 negatives per positive by default).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["Triples", "TripleSampler", "SAMPLERS"]

SAMPLERS = ("lightgcn", "legcf")


@dataclass
class Triples:
    users: torch.Tensor
    pos: torch.Tensor
    neg: torch.Tensor

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def batches(self, batch_size: int):
        """Yield ceil(n / batch_size) consecutive mini-batches of equal size (within one row).

        The rows are already shuffled. Equal sizes matter with very large batches: splitting 810,128 rows
        into 262,144-row chunks would leave a 23,744-row remainder that takes a full optimizer step every
        epoch on a much noisier gradient.
        """
        n = len(self)
        n_batches = max(1, -(-n // batch_size))
        bounds = [n * b // n_batches for b in range(n_batches + 1)]
        for start, end in zip(bounds[:-1], bounds[1:]):
            yield self.users[start:end], self.pos[start:end], self.neg[start:end]


class TripleSampler:
    """Samples one epoch of BPR triples from a (n_users x n_items) CSR interaction matrix.

    Sampling is a pure function of (seed, epoch), so a resumed run draws exactly the same triples.
    """

    def __init__(self, train: sp.csr_matrix, kind: str = "lightgcn", n_neg: int = 1, rows_per_epoch: int | None = None):
        if kind not in SAMPLERS:
            raise ValueError(f"unknown sampler {kind!r}; choose one of {SAMPLERS}")
        if n_neg < 1:
            raise ValueError(f"n_neg must be >= 1, got {n_neg}")
        train = sp.csr_matrix(train)
        train.sort_indices()
        self.kind = kind
        self.n_neg = n_neg if kind == "legcf" else 1
        self.n_users, self.n_items = train.shape
        self.indptr = train.indptr.astype(np.int64)
        self.indices = train.indices.astype(np.int64)
        deg = np.diff(self.indptr)
        self.active_users = np.flatnonzero(deg > 0)
        if len(self.active_users) == 0:
            raise ValueError("the training matrix has no interactions: nothing to sample")
        if (deg >= self.n_items).any():
            raise ValueError("a user has interacted with every item: no negative can be sampled")
        # sorted keys u * n_items + i of every training pair, for vectorised membership tests
        rows = np.repeat(np.arange(self.n_users, dtype=np.int64), deg)
        self.keys = rows * self.n_items + self.indices
        self.n_train = int(train.nnz)
        self.rows_per_epoch = int(rows_per_epoch or self.n_train)

    def _is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users * self.n_items + items
        pos = np.searchsorted(self.keys, keys)
        pos = np.minimum(pos, len(self.keys) - 1)
        return self.keys[pos] == keys

    def _negatives(self, rng: np.random.Generator, users: np.ndarray, k: int) -> np.ndarray:
        neg = rng.integers(0, self.n_items, size=(len(users), k), dtype=np.int64)
        urep = np.repeat(users[:, None], k, axis=1)
        bad = self._is_positive(urep.ravel(), neg.ravel()).reshape(neg.shape)
        if k > 1:
            bad |= _duplicate_in_row(neg)
        while bad.any():
            r, c = np.nonzero(bad)
            neg[r, c] = rng.integers(0, self.n_items, size=len(r), dtype=np.int64)
            bad[:] = False
            bad[r, c] = self._is_positive(users[r], neg[r, c])
            if k > 1:
                bad |= _duplicate_in_row(neg)
        return neg

    def sample(self, seed: int, epoch: int) -> Triples:
        """One shuffled epoch of triples, a pure function of (seed, epoch)."""
        rng = np.random.default_rng([int(seed), int(epoch)])
        users = self.active_users[rng.integers(0, len(self.active_users), size=self.rows_per_epoch)]
        start = self.indptr[users]
        deg = self.indptr[users + 1] - start
        pos = self.indices[start + (rng.random(len(users)) * deg).astype(np.int64)]
        neg = self._negatives(rng, users, self.n_neg)
        if self.n_neg > 1:
            users = np.repeat(users, self.n_neg)
            pos = np.repeat(pos, self.n_neg)
        neg = neg.ravel()
        perm = rng.permutation(len(users))
        return Triples(torch.from_numpy(users[perm]), torch.from_numpy(pos[perm]), torch.from_numpy(neg[perm]))


def _duplicate_in_row(a: np.ndarray) -> np.ndarray:
    """Mask of entries equal to an earlier entry of the same row."""
    order = np.argsort(a, axis=1, kind="stable")
    s = np.take_along_axis(a, order, axis=1)
    dup_sorted = np.zeros_like(s, dtype=bool)
    dup_sorted[:, 1:] = s[:, 1:] == s[:, :-1]
    out = np.zeros_like(dup_sorted)
    np.put_along_axis(out, order, dup_sorted, axis=1)
    return out
