"""LSH (random-hyperplane / sign-random-projection hashing; Charikar, STOC 2002; Gionis, Indyk & Motwani,
VLDB 1999) as the post-hoc baseline of L2Q-GCN's Table 2.

The L2Q-GCN paper applies LSH "following the adaptation in [HashGNN]" without details. Reconstructed here
(methods notes 6.4): take trained full-precision embeddings (e.g. a LightGCN's ``forward()`` outputs), draw
one Gaussian matrix R in R^{c x k} (entries N(0, 1)) shared by users and items, and store
code = sign(e R) in {-1, +1}^k (0 maps to +1); rank by code inner product (k - 2 * Hamming distance).
No centring, no training.

:class:`FixedCodes` wraps any pair of code tables as a :class:`RecModel` so they go through the same
``scorer`` / ``evaluate`` path as trained models, at 1 bit per code entry.
"""
from __future__ import annotations

import torch

from .base import RecModel

__all__ = ["lsh_codes", "lsh_hyperplanes", "FixedCodes"]


def lsh_hyperplanes(dim: int, n_bits: int, seed: int) -> torch.Tensor:
    """The [dim, n_bits] N(0, 1) projection drawn from its own generator (the same for the same seed)."""
    if dim < 1 or n_bits < 1:
        raise ValueError(f"dim and n_bits must be >= 1, got {dim}, {n_bits}")
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randn(dim, n_bits, generator=gen)


def lsh_codes(embeddings: torch.Tensor, n_bits: int, seed: int = 0) -> torch.Tensor:
    """sign(embeddings @ R) in {-1, +1} (float), R from :func:`lsh_hyperplanes`. Call it with the same seed
    for users and items (or on their concatenation) so both sides share the hyperplanes."""
    if embeddings.dim() != 2:
        raise ValueError(f"embeddings must be a 2-d [n, dim] tensor, got shape {tuple(embeddings.shape)}")
    e = embeddings.detach().float()
    proj = e @ lsh_hyperplanes(e.shape[1], n_bits, seed).to(e.device)
    return torch.where(proj >= 0, 1.0, -1.0)


class FixedCodes(RecModel):
    """Fixed {-1, +1} codes evaluated as a model: ``forward`` returns them, scores are code inner products.

    Nothing is trainable; ``loss`` raises. ``storage_bits`` counts 1 bit per code entry.
    """

    def __init__(self, user_codes: torch.Tensor, item_codes: torch.Tensor):
        super().__init__()
        if user_codes.dim() != 2 or item_codes.dim() != 2 or user_codes.shape[1] != item_codes.shape[1]:
            raise ValueError(f"need [n_users, k] and [n_items, k] code tables, got {tuple(user_codes.shape)} "
                             f"and {tuple(item_codes.shape)}")
        for name, c in (("user_codes", user_codes), ("item_codes", item_codes)):
            if not bool(((c == 1) | (c == -1)).all()):
                raise ValueError(f"{name} must contain only -1 and +1")
        self.register_buffer("user_codes", user_codes.detach().float().clone())
        self.register_buffer("item_codes", item_codes.detach().float().clone())
        self.n_users, self.n_items = user_codes.shape[0], item_codes.shape[0]

    @classmethod
    def from_lsh(cls, user_emb: torch.Tensor, item_emb: torch.Tensor, n_bits: int, seed: int = 0) -> "FixedCodes":
        """LSH codes of trained user and item embeddings under one shared set of hyperplanes."""
        if user_emb.shape[1:] != item_emb.shape[1:]:
            raise ValueError("user and item embeddings must have the same width")
        return cls(lsh_codes(user_emb, n_bits, seed), lsh_codes(item_emb, n_bits, seed))

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_codes, self.item_codes

    def loss(self, users, pos, neg):
        raise TypeError("FixedCodes holds post-hoc codes and has nothing to train; evaluate it with "
                        "qlib.metrics.evaluate(model.scorer(), ...)")

    def storage_bits(self) -> int:
        return self.user_codes.numel() + self.item_codes.numel()
