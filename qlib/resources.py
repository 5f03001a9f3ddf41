"""Embedding size on disk and inference time (L2Q-GCN Sec. 5.5, Fig. 5 / appendix Table 3).

Size ("E.S."): the representation a model needs for ranking is written to a file and the file's size is
read back, in MiB (the paper's "MB": LightGCN on Yelp2018, d = 128, is 69,716 x 128 x 4 B = 34.04 MiB):
- full precision: one fp32 table [N, d] (LightGCN stores its ego table; outputs are recomputed);
- binary codes: the (L+1) codes of every node bit-packed (``numpy.packbits``), plus one fp32 rescaling
  factor per node and code for L2Q-GCN_anl (Eq. 14);
- HashGNN (Fig. 5(a) only): the hard variant stores one bit-packed code per node; the soft variant ranks
  with a code or its continuous vector per node (:mod:`qlib.models.hashgnn`), so it stores the fp32 table
  of continuous vectors z (the codes are sign(z)) plus one bit-packed selector bit per node.

Inference time ("I.T."): score every item for every user and sort, in two settings:
- ``paper``: the paper's setting, BLAS disabled; codes stored as int8, f(Q) = sum_l q(l) widened once to
  the narrowest integer type that cannot overflow (int16 for L = 2, d = 128) and scored with integer
  arithmetic. NumPy's ``einsum`` without path optimisation runs its own C loops (no BLAS) for floats and
  integers alike, so both representations go through the same engine; a full ``argsort`` per user;
- ``blas``: the honest setting of a modern CPU: fp32 matrix products through BLAS (``torch.mm``), the codes
  cast to fp32 (a binary code gains no arithmetic speed from BLAS), top-k selection instead of a full sort.
Users are processed in blocks; to keep CPU runs short the time can be measured on a fixed sample of users
and scaled linearly to all users (``user_sample``; the scaling is recorded with the numbers).
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .models.hashgnn import HashGNN

__all__ = ["StoredRepresentation", "stored_representation", "size_on_disk_mib", "inference_time",
           "eq14_bits"]

MIB = 2 ** 20


@dataclass
class StoredRepresentation:
    """What a model stores for ranking: fp32 ``table`` [N, d], or sign ``codes`` [N, n_codes, d] in {-1, +1}
    with optional fp32 ``scales`` [N, n_codes]. Users are rows 0..n_users-1. ``selector`` [N] (bool, with a
    table) marks the rows ranked by sign(table) instead of the table row (HashGNN-soft)."""

    n_users: int
    table: np.ndarray | None = None
    codes: np.ndarray | None = None
    scales: np.ndarray | None = None
    selector: np.ndarray | None = None

    @property
    def kind(self) -> str:
        if self.table is not None:
            return "fp32+selector" if self.selector is not None else "fp32"
        return "codes+scales" if self.scales is not None else "codes"


@torch.no_grad()
def stored_representation(model) -> StoredRepresentation:
    """The stored form of a LightGCN-like model (its ego table), an L2Q-GCN model (its per-layer codes) or a
    HashGNN model (hard: one code per node; soft: the continuous table and the per-node selector)."""
    if isinstance(model, HashGNN):
        zu, zi = model.continuous()
        z = torch.cat([zu, zi]).detach().float()
        if model.config.variant == "hard":
            return StoredRepresentation(model.n_users, codes=torch.where(z >= 0, 1, -1).to(torch.int8)[:, None].numpy())
        mu, mi = model._soft_mask()
        return StoredRepresentation(model.n_users, table=z.numpy(), selector=torch.cat([mu, mi]).numpy())
    if hasattr(model, "codes") and hasattr(model, "quantize"):
        was = model.quantize.enabled
        model.quantize.enabled = True
        try:
            layers = model._layers()
            inputs = layers if model.config.layerwise else [torch.stack(layers).mean(0)]
            pre = [v @ model.transform for v in inputs]
        finally:
            model.quantize.enabled = was
        codes = torch.stack([torch.where(h >= 0, 1, -1).to(torch.int8) for h in pre], dim=1).numpy()
        scales = None
        if model.config.rescale == "l1":
            scales = torch.stack([h.abs().mean(1) for h in pre], dim=1).float().numpy()
        elif model.config.rescale == "learned":
            scales = model.learned_scale.detach().float().numpy()
        return StoredRepresentation(model.n_users, codes=codes, scales=scales)
    return StoredRepresentation(model.n_users, table=model.embedding.detach().float().numpy())


def eq14_bits(n_nodes: int, dim: int, n_layers: int, kind: str, n_codes: int | None = None) -> int:
    """Eq. 14 (and its fp32 reference): 32 N d for a table (+ N selector bits); (L+1) N d for codes;
    (L+1) N (d + 32) with scales. ``n_codes`` overrides the L+1 codes per node (HashGNN: 1)."""
    if kind in ("fp32", "fp32+selector"):
        return 32 * n_nodes * dim + (n_nodes if kind == "fp32+selector" else 0)
    per = dim + (32 if kind == "codes+scales" else 0)
    return (n_layers + 1 if n_codes is None else n_codes) * n_nodes * per


def _write(rep: StoredRepresentation, path: Path) -> None:
    if rep.table is not None:
        arrays = {"table": rep.table, **({"selector": np.packbits(rep.selector)} if rep.selector is not None else {})}
    else:
        arrays = {"codes": np.packbits(rep.codes > 0, axis=-1),
                  **({"scales": rep.scales} if rep.scales is not None else {})}
    with open(path, "wb") as f:
        for a in arrays.values():
            np.save(f, np.ascontiguousarray(a))


def size_on_disk_mib(rep: StoredRepresentation) -> float:
    """Size in MiB of the file holding ``rep`` (raw ``.npy`` arrays: a 128-byte header each, no compression)."""
    fd, tmp = tempfile.mkstemp(suffix=".npy")
    os.close(fd)
    try:
        _write(rep, Path(tmp))
        return os.path.getsize(tmp) / MIB
    finally:
        os.unlink(tmp)


def _factors(rep: StoredRepresentation) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) matrices whose row products are the scores: the table (with the selected rows replaced by
    their codes), or f(Q) = sum_l alpha(l) q(l) (Eq. 6; small integers kept as int8 when there are no scales)."""
    if rep.table is not None:
        m = rep.table   # HashGNN-soft: the selected rows rank with their code sign(z) (+1 at 0, as HashGNN.code)
        if rep.selector is not None:
            m = np.where(rep.selector[:, None], np.where(m >= 0, 1.0, -1.0), m).astype(np.float32)
    elif rep.scales is None:
        m = rep.codes.sum(axis=1, dtype=np.int8)
    else:
        m = (rep.codes * rep.scales[..., None]).sum(axis=1).astype(np.float32)
    return m[: rep.n_users], m[rep.n_users:]


def inference_time(rep: StoredRepresentation, setting: str = "blas", user_sample: int | None = 2048,
                   block: int = 256, k: int = 100, seed: int = 0) -> dict:
    """Seconds to score and sort all items for all users (measured on ``user_sample`` users when given and
    scaled linearly). Returns the estimate with what was measured."""
    if setting not in ("paper", "blas"):
        raise ValueError(f"unknown setting {setting!r}; use 'paper' (no BLAS, integer codes) or 'blas'")
    users, items = _factors(rep)
    n_users = len(users)
    rows = np.arange(n_users)
    if user_sample is not None and user_sample < n_users:
        rows = np.sort(np.random.default_rng(seed).choice(n_users, user_sample, replace=False))
    if setting == "paper":
        if users.dtype == np.int8:  # widened once at load time to an accumulator that cannot overflow
            bound = int(np.abs(users).max(initial=0)) * int(np.abs(items).max(initial=0)) * users.shape[1]
            acc = np.int16 if bound < 2**15 \
                else np.int32
            users, items = users.astype(acc), items.astype(acc)
        items_t = items.T.copy()
        t0 = time.perf_counter()
        for s in range(0, len(rows), block):
            scores = np.einsum("ud,di->ui", users[rows[s:s + block]], items_t, optimize=False)  # C loops, no BLAS
            np.argsort(-scores, axis=1)
        elapsed = time.perf_counter() - t0
    else:
        u_all = torch.from_numpy(np.asarray(users, dtype=np.float32))
        i_t = torch.from_numpy(np.asarray(items, dtype=np.float32)).t().contiguous()
        t0 = time.perf_counter()
        for s in range(0, len(rows), block):
            scores = u_all[torch.from_numpy(rows[s:s + block])] @ i_t
            torch.topk(scores, min(k, scores.shape[1]), dim=1)
        elapsed = time.perf_counter() - t0
    return {"seconds": elapsed * n_users / len(rows), "measured_s": elapsed, "users_measured": int(len(rows)),
            "n_users": int(n_users), "n_items": int(len(items)), "setting": setting,
            "threads": torch.get_num_threads(), "representation": rep.kind}
