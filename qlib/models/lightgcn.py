"""LightGCN (He et al., SIGIR 2020): ego embeddings propagated over the normalised graph, layers averaged."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..propagation import combine_layers, propagate
from ..compiling import maybe_compile
from .base import RecModel, bpr_loss, row_dots, sum_sq_rows

__all__ = ["LightGCNConfig", "LightGCN", "EgoBPRModel", "bpr_and_reg"]


def bpr_and_reg(u_all: torch.Tensor, i_all: torch.Tensor, ego: torch.Tensor, n_users: int,
                users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """BPR on the batch's final representations and LightGCN's L2 term on its ego rows (unweighted)."""
    reg = 0.5 * sum_sq_rows(ego, users, n_users + pos, n_users + neg) / users.shape[0]  # = l2_reg of the rows
    return bpr_loss(row_dots(u_all, users, i_all, pos), row_dots(u_all, users, i_all, neg)), reg


class EgoBPRModel(RecModel):
    """The loss shared by models ranked by their ``forward()`` output that keep an ego table
    ``self.embedding`` (LightGCN, NGCF, HashNet): BPR on the batch's representations plus
    ``config.reg`` times LightGCN's L2 term on its ego rows; the per-triple part can be compiled."""

    _head = staticmethod(bpr_and_reg)

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        u_all, i_all = self.forward()
        bpr, reg = self._head(u_all, i_all, self.embedding, self.n_users, users, pos, neg)
        return {"bpr": bpr, "reg": self.config.reg * reg}

    def compile_loss(self) -> None:
        """Compile the dense per-triple part of the loss (a training-speed lever; see qlib.compiling)."""
        self._head = maybe_compile(bpr_and_reg)


@dataclass
class LightGCNConfig:
    """Defaults are the LightGCN paper's (d = 64, L = 3, lambda = 1e-4, N(0, 0.1^2) init)."""

    dim: int = 64
    n_layers: int = 3
    combine: str = "mean"
    reg: float = 1e-4
    init_std: float = 0.1


class LightGCN(EgoBPRModel):
    def __init__(self, adj: torch.Tensor, n_users: int, n_items: int, config: LightGCNConfig | None = None):
        super().__init__()
        self.config = config or LightGCNConfig()
        self.adj = adj
        self.n_users, self.n_items = n_users, n_items
        if adj.shape[0] != n_users + n_items:
            raise ValueError(f"adjacency has {adj.shape[0]} nodes, expected n_users + n_items = {n_users + n_items}")
        self.embedding = nn.Parameter(torch.randn(n_users + n_items, self.config.dim) * self.config.init_std)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        layers = propagate(self.adj, self.embedding, self.config.n_layers)
        out = combine_layers(layers, self.config.combine)
        return out[: self.n_users], out[self.n_users:]

    def storage_bits(self) -> int:
        """One fp32 table of ego embeddings (what LightGCN stores; outputs are recomputed)."""
        return 32 * self.embedding.numel()
