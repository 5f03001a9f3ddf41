"""LEGCF's assignment matrix S (N x c, t non-zeros per row): METIS partition, initialisation, the
pseudo-inverse update, and the expanded graph A' that links entities to meta-embeddings.

Equation numbers are those of Liang et al., "Lightweight Embeddings for Graph Collaborative Filtering"
(SIGIR'24). S is always held row-compressed as two [N, t] arrays: ``indices`` (meta-embedding ids,
distinct within a row; column 0 is the anchor / largest weight) and ``values`` (the weights).

- :func:`metis_partition` splits the user-item graph into c parts (Sec. 3.4; LEGCF's code calls
  ``dgl.metis_partition_assignment`` on the unweighted graph, we call ``pymetis`` k-way the same way);
- :func:`init_assignment` is the initialisation of Sec. 3.4 (steps I-III);
- :func:`update_assignment` is the closed-form update S = H_full H_meta^+ (Eq. 14), computed in row
  blocks (Eq. 16) and sparsified to the top t per row (Eq. 15);
- :func:`expanded_adjacency` builds D^{-1/2} A' D^{-1/2} with A' = [[A, S], [S^T, 0]] (Eqs. 5, 7).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from .graph import bipartite_adjacency, normalize_symmetric, to_torch_csr

__all__ = [
    "INIT_METHODS",
    "metis_partition",
    "init_assignment",
    "update_assignment",
    "assignment_matrix",
    "expanded_adjacency",
]

INIT_METHODS = ("metis", "random")
_METIS_CACHE_VERSION = "pymetis-kway-unweighted-v1"


# --------------------------------------------------------------------------------------------- METIS
def _user_item_graph(train_csr: sp.spmatrix, n_users: int, n_items: int) -> sp.csr_matrix:
    """The symmetric, unweighted (n_users + n_items)-node user-item graph of Eq. 2, sorted CSR."""
    if train_csr.shape != (n_users, n_items):
        raise ValueError(f"train matrix has shape {train_csr.shape}, expected ({n_users}, {n_items})")
    coo = sp.coo_matrix(train_csr)
    adj = bipartite_adjacency(coo.row, coo.col, n_users, n_items)
    adj.sort_indices()
    return adj


def _partition_key(adj: sp.csr_matrix, n_parts: int, seed: int) -> str:
    h = hashlib.sha256()
    h.update(f"{_METIS_CACHE_VERSION}|{adj.shape[0]}|{n_parts}|{seed}|".encode())
    h.update(np.ascontiguousarray(adj.indptr, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(adj.indices, dtype=np.int64).tobytes())
    return h.hexdigest()[:24]


def _atomic_save_npy(arr: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, arr)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load_cached(path: Path, n_nodes: int, n_parts: int) -> np.ndarray | None:
    """A cached partition if the file is readable and well formed, else None (it is then recomputed)."""
    try:
        parts = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if parts.shape != (n_nodes,) or parts.dtype.kind not in "iu" or (n_nodes and (parts.min() < 0 or parts.max() >= n_parts)):
        return None
    return parts.astype(np.int64)


def _run_metis(adj: sp.csr_matrix, n_parts: int, seed: int) -> np.ndarray:
    import pymetis  # local import: only the METIS initialisation needs it

    n = adj.shape[0]
    if n_parts == 1:
        return np.zeros(n, dtype=np.int64)
    if n_parts >= n:
        return np.arange(n, dtype=np.int64)  # one node per part: nothing to partition
    if adj.nnz == 0:
        return np.arange(n, dtype=np.int64) % n_parts  # no edges: any balanced split is optimal
    opts = pymetis.Options(seed=int(seed) % (2**31 - 1))
    graph = pymetis.CSRAdjacency(adj.indptr.astype(np.int64), adj.indices.astype(np.int64))
    _, membership = pymetis.part_graph(
        n_parts,
        adjacency=graph,
        recursive=False,  # k-way, as DGL's metis_partition_assignment (mode="k-way") that LEGCF calls
        options=opts,
    )
    return np.asarray(membership, dtype=np.int64)


def metis_partition(train_csr: sp.spmatrix, n_users: int, n_items: int, n_parts: int, seed: int = 0,
                    cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """Part id in ``[0, n_parts)`` of each of the N = n_users + n_items nodes (users first, then items).

    METIS k-way partitioning of the symmetric, unweighted user-item graph (Sec. 3.4; LEGCF's code passes
    no edge weights to METIS). Degenerate cases are handled without METIS: one part -> all zeros;
    ``n_parts >= N`` -> every node its own part; a graph without edges -> a round-robin split. METIS may
    leave some parts empty, so at most ``n_parts`` distinct ids occur.

    With ``cache_dir`` the partition is stored as ``metis_<key>.npy`` (atomic write), the key hashing the
    graph structure, ``n_parts`` and ``seed``; a malformed cache file is ignored and rewritten.
    """
    if n_parts < 1:
        raise ValueError(f"n_parts must be >= 1, got {n_parts}")
    adj = _user_item_graph(train_csr, n_users, n_items)
    n = adj.shape[0]
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"metis_{_partition_key(adj, n_parts, seed)}.npy"
        cached = _load_cached(path, n, n_parts) if path.exists() else None
        if cached is not None:
            return cached
    parts = _run_metis(adj, n_parts, seed)
    if path is not None:
        _atomic_save_npy(parts, path)
    return parts


# ------------------------------------------------------------------------------------ initialisation
def _draw_distinct(rng: np.random.Generator, taken: np.ndarray, n_meta: int, n_draw: int) -> np.ndarray:
    """[N, n_draw] ids drawn uniformly without replacement from {0..n_meta-1} minus each row's ``taken``.

    Vectorised over rows: a uniform rank r among the m free ids is mapped to the id by stepping over the
    taken ids in ascending order (r += 1 for every taken id <= r); loops only over t.
    """
    n = taken.shape[0]
    chosen = np.sort(taken, axis=1)
    out = np.empty((n, n_draw), dtype=np.int64)
    for k in range(n_draw):
        r = rng.integers(0, n_meta - chosen.shape[1], size=n)
        for j in range(chosen.shape[1]):
            r += r >= chosen[:, j]
        out[:, k] = r
        chosen = np.sort(np.concatenate([chosen, r[:, None]], axis=1), axis=1)
    return out


def _distinct_count_with_replacement(rng: np.random.Generator, n: int, pool: int, n_draw: int) -> np.ndarray:
    """Number of distinct values among ``n_draw`` i.i.d. uniform draws from ``pool`` values, per row."""
    draws = np.sort(rng.integers(0, pool, size=(n, n_draw)), axis=1)
    return 1 + (np.diff(draws, axis=1) != 0).sum(axis=1)


def init_assignment(parts: np.ndarray | None, n_nodes: int, n_meta: int, t: int, anchor_weight: float,
                    seed: int = 0, method: str = "metis", replace: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Initial S as (indices [N, t] int64, values [N, t] float32); column 0 holds the anchor (Sec. 3.4).

    I.   the anchor q*_p is the node's METIS part (``method="metis"``) or a uniformly random
         meta-embedding (``method="random"``, the "w/o METIS" ablation of Table 3), with weight w*;
    II.  the other t-1 weights are (1 - w*)/(t - 1) on random meta-embeddings other than the anchor;
    III. every other entry is 0.

    ``replace`` decides how step II draws. The paper samples the t-1 ids "with replacement" into a *set* Q,
    so colliding draws collapse and such a row keeps fewer non-zeros and sums to less than 1
    (``replace=True``; a collapsed slot is stored as a distinct unused id with weight 0, so ids stay distinct
    and the shape stays [N, t]). LEGCF's code draws without replacement (``np.random.choice(...,
    replace=False)``), so every row sums to exactly 1 (``replace=False``). Both are identical for t <= 2.
    Rows are not normalised beyond that in either. With t = 1 the single weight is w* (paper, rule I);
    the code uses 1.0 there (pass ``anchor_weight=1.0`` for that).
    """
    if method not in INIT_METHODS:
        raise ValueError(f"unknown init method {method!r}; choose one of {INIT_METHODS}")
    if n_meta < 1:
        raise ValueError(f"n_meta must be >= 1, got {n_meta}")
    if not 1 <= t <= n_meta:
        raise ValueError(f"t (meta-embeddings per entity) must be in [1, n_meta={n_meta}], got {t}")
    if not 0.0 < anchor_weight <= 1.0:
        raise ValueError(f"anchor_weight must be in (0, 1], got {anchor_weight}")
    rng = np.random.default_rng(seed)
    if method == "metis":
        if parts is None:
            raise ValueError("method='metis' needs the partition (see metis_partition)")
        anchors = np.asarray(parts, dtype=np.int64)
        if anchors.shape != (n_nodes,):
            raise ValueError(f"partition has shape {anchors.shape}, expected ({n_nodes},)")
        if n_nodes and (anchors.min() < 0 or anchors.max() >= n_meta):
            raise ValueError(f"partition ids must lie in [0, n_meta={n_meta})")
    else:
        anchors = rng.integers(0, n_meta, size=n_nodes).astype(np.int64)
    others = _draw_distinct(rng, anchors[:, None], n_meta, t - 1)
    indices = np.concatenate([anchors[:, None], others], axis=1)
    values = np.empty((n_nodes, t), dtype=np.float32)
    values[:, 0] = anchor_weight
    if t > 1:
        values[:, 1:] = (1.0 - anchor_weight) / (t - 1)
        if replace:
            k = _distinct_count_with_replacement(rng, n_nodes, n_meta - 1, t - 1)
            values[:, 1:][np.arange(t - 1)[None, :] >= k[:, None]] = 0.0
    return indices, values


# ---------------------------------------------------------------------------------------- update
@torch.no_grad()
def update_assignment(h_full: torch.Tensor, h_meta: torch.Tensor, t: int,
                      batch_rows: int = 16384) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form assignment update: (indices [N, t] int64, values [N, t]) on the inputs' device.

    S = H_full H_meta^+ (Eq. 14; ``torch.linalg.pinv`` computes the SVD form of Eq. 13) is evaluated
    ``batch_rows`` rows at a time, S_b = H_b H_meta^+ (Eq. 16: the pseudo-inverse once, then row blocks,
    memory O(nc + nd + cd)), and each block is sparsified at once to its t entries of largest *value*
    (Eq. 15), sorted in decreasing order. By value, not magnitude: the paper keeps "the largest t
    non-zero weights" of an S it defines as non-negative (weights are similarities to meta-embeddings,
    and they become edge weights of A'), and LEGCF's code calls ``torch.topk(S, t, largest=True)`` on the
    signed matrix. The kept values are returned as computed (they may in principle be negative; the
    model clamps them, see :class:`qlib.models.legcf.LEGCFConfig.clamp_negative`).
    """
    if h_full.dim() != 2 or h_meta.dim() != 2 or h_full.shape[1] != h_meta.shape[1]:
        raise ValueError(f"need H_full [N, d] and H_meta [c, d], got {tuple(h_full.shape)} and {tuple(h_meta.shape)}")
    if not 1 <= t <= h_meta.shape[0]:
        raise ValueError(f"t must be in [1, c={h_meta.shape[0]}], got {t}")
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    pinv = torch.linalg.pinv(h_meta)  # [d, c]
    idx_blocks, val_blocks = [], []
    for start in range(0, h_full.shape[0], batch_rows):
        s_b = h_full[start:start + batch_rows] @ pinv
        vals, idx = torch.topk(s_b, t, dim=1, largest=True, sorted=True)
        idx_blocks.append(idx)
        val_blocks.append(vals)
    if not idx_blocks:
        return (torch.empty(0, t, dtype=torch.long, device=h_full.device),
                torch.empty(0, t, dtype=h_full.dtype, device=h_full.device))
    return torch.cat(idx_blocks), torch.cat(val_blocks)


# ------------------------------------------------------------------------------------ expanded graph
def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def assignment_matrix(indices, values, n_meta: int) -> sp.csr_matrix:
    """S as a scipy (N x c) CSR matrix from its [N, t] (indices, values); zero weights are dropped."""
    idx, val = _as_numpy(indices), _as_numpy(values)
    if idx.shape != val.shape or idx.ndim != 2:
        raise ValueError(f"indices and values must both be [N, t], got {idx.shape} and {val.shape}")
    n, t = idx.shape
    if idx.size and (idx.min() < 0 or idx.max() >= n_meta):
        raise ValueError(f"meta-embedding ids must lie in [0, n_meta={n_meta})")
    s = sp.csr_matrix((val.ravel().astype(np.float32), idx.ravel().astype(np.int64),
                       np.arange(0, n * t + 1, t, dtype=np.int64)), shape=(n, n_meta))
    s.sum_duplicates()
    s.eliminate_zeros()
    return s


def expanded_adjacency(adj: sp.spmatrix, indices, values, n_meta: int,
                       device: str | torch.device = "cpu", self_loops: bool = False) -> torch.Tensor:
    """D^{-1/2} A' D^{-1/2} with A' = [[A, S], [S^T, 0]] (Eqs. 5, 7), a symmetric (N + c)-square torch CSR.

    The S block carries the assignment *weights*, as in the paper (Eq. 5 embeds S itself, and D is the
    degree matrix of A', so an entity's degree is its graph degree plus its row sum of S and a
    meta-embedding's degree is its column sum of S) and in LEGCF's code. ``adj`` is the N x N entity
    block: the paper's 0/1 adjacency of Eq. 2, or LEGCF's code's already normalised LightGCN matrix.
    Negative weights are rejected (the paper's S is non-negative and D^{-1/2} needs positive degrees).
    The result is usable with :func:`qlib.propagation.propagate` / :func:`qlib.graph.sym_spmm`.
    ``self_loops=True`` normalises A' + I (every entity and meta-embedding node keeps itself; LR-GCCF).
    """
    adj = sp.csr_matrix(adj, dtype=np.float32)
    n = adj.shape[0]
    if adj.shape != (n, n):
        raise ValueError(f"entity adjacency must be square, got {adj.shape}")
    s = assignment_matrix(indices, values, n_meta)
    if s.shape[0] != n:
        raise ValueError(f"assignment has {s.shape[0]} rows, adjacency has {n} nodes")
    if s.nnz and s.data.min() < 0:
        raise ValueError("assignment weights must be non-negative to build A' (clamp them first)")
    expanded = sp.bmat([[adj, s], [s.T, None]], format="csr", dtype=np.float32)
    return to_torch_csr(normalize_symmetric(expanded, self_loops), device)
