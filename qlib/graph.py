"""Normalised user-item adjacency matrices and a sparse product that reuses them in backward.

Everything here is built from index arrays; no dense N x N matrix is ever formed.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["bipartite_adjacency", "normalize_symmetric", "build_norm_adj", "to_torch_csr", "sym_spmm"]


def bipartite_adjacency(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """Symmetric (n_users + n_items) square 0/1 adjacency of the user-item graph, no self loops."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    if users.shape != items.shape:
        raise ValueError(f"users and items must have the same length, got {users.shape} and {items.shape}")
    n = n_users + n_items
    rows = np.concatenate([users, items + n_users])
    cols = np.concatenate([items + n_users, users])
    adj = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, n))
    adj.sum_duplicates()
    adj.data[:] = 1.0  # repeated interactions count once
    return adj


def normalize_symmetric(adj: sp.spmatrix, self_loops: bool = False) -> sp.csr_matrix:
    """D^{-1/2} A D^{-1/2}; isolated nodes keep a zero row (no division by zero).

    ``self_loops=True`` normalises A + I instead, (D + I)^{-1/2} (A + I) (D + I)^{-1/2} (GCN / LR-GCCF)."""
    adj = sp.csr_matrix(adj, dtype=np.float32)
    if self_loops:
        adj = (adj + sp.identity(adj.shape[0], dtype=np.float32, format="csr")).tocsr()
    deg = np.asarray(adj.sum(axis=1)).ravel()
    with np.errstate(divide="ignore"):
        d_inv_sqrt = np.where(deg > 0, 1.0 / np.sqrt(deg), 0.0).astype(np.float32)
    d = sp.diags(d_inv_sqrt)
    out = (d @ adj @ d).tocsr()
    out.sort_indices()
    return out.astype(np.float32)


def to_torch_csr(mat: sp.csr_matrix, device: str | torch.device = "cpu") -> torch.Tensor:
    """scipy CSR -> torch sparse CSR tensor (float32, int64 indices)."""
    mat = sp.csr_matrix(mat)
    with warnings.catch_warnings():  # "sparse CSR support is in beta": CSR spmm is what we rely on, and tested
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(mat.indptr.astype(np.int64)),
            torch.from_numpy(mat.indices.astype(np.int64)),
            torch.from_numpy(mat.data.astype(np.float32)),
            size=mat.shape,
            device=device,
            check_invariants=False,
        )


def build_norm_adj(train: sp.csr_matrix, device: str | torch.device = "cpu", self_loops: bool = False) -> torch.Tensor:
    """LightGCN's symmetric normalised adjacency of a (n_users x n_items) interaction matrix, as torch CSR
    (``self_loops=True``: of A + I, as LR-GCCF propagates)."""
    coo = sp.coo_matrix(train)
    n_users, n_items = train.shape
    adj = bipartite_adjacency(coo.row, coo.col, n_users, n_items)
    return to_torch_csr(normalize_symmetric(adj, self_loops), device)


class _SymmetricSpMM(torch.autograd.Function):
    """y = A x for a symmetric sparse A; backward is A g (A^T = A), so no transpose is built per call."""

    @staticmethod
    def forward(ctx, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.adj = adj
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return None, torch.sparse.mm(ctx.adj, grad.contiguous())


def sym_spmm(adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Sparse-dense product A x where A is symmetric (the caller guarantees it)."""
    return _SymmetricSpMM.apply(adj, x)
