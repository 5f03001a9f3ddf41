"""NGCF (Wang et al., "Neural Graph Collaborative Filtering", SIGIR 2019): a full-precision baseline of
L2Q-GCN's Table 2.

Layer l+1 of the embedding propagation (NGCF Eq. 7, matrix form):

    E(l+1) = LeakyReLU_0.2( (L + I) E(l) W1 + b1  +  ((L E(l)) * E(l)) W2 + b2 )

with L the symmetric normalised adjacency D^{-1/2} A D^{-1/2} (the project's LightGCN adjacency), ``*`` the
element-wise (bi-interaction) product, then message dropout on E(l+1). The representation is the
concatenation [E(0) | E(1)/||E(1)|| | ... | E(L)/||E(L)||] (the layer outputs L2-normalised per row, as in the
authors' code; the ego layer is not normalised), scored by inner product. Loss: BPR + lambda/2 * L2 of the
batch's ego rows divided by the batch size (the authors' regulariser).

Specified by the paper: the layer rule, LeakyReLU, bi-interaction, message dropout, concatenation, BPR + L2.
Choices here (the authors' release defaults as recalled, not re-verified): d = 64, three layers of 64,
message dropout 0.1, lambda = 1e-5, Xavier initialisation of the embeddings and weights, no node dropout.
The releases fold the self connection into the adjacency matrix they pass (normalised differently between
releases); here the paper's Eq. 7 is followed literally: L + I with the symmetric L, and L E in the
bi-interaction term.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..graph import sym_spmm
from .lightgcn import EgoBPRModel

__all__ = ["NGCFConfig", "NGCF", "NGCFLayer", "ngcf_representation"]


@dataclass
class NGCFConfig:
    """Defaults: the NGCF release (d = 64, 3 layers of 64, message dropout 0.1, lambda = 1e-5)."""

    dim: int = 64                  # ego embedding width d
    n_layers: int = 3
    layer_dim: int | None = None   # width of every propagation layer (None: = dim)
    mess_dropout: float = 0.1      # message dropout after each layer, training only
    leaky_slope: float = 0.2
    reg: float = 1e-5

    def validate(self) -> "NGCFConfig":
        if self.dim < 1 or (self.layer_dim is not None and self.layer_dim < 1):
            raise ValueError(f"dim and layer_dim must be >= 1, got {self.dim}, {self.layer_dim}")
        if self.n_layers < 1:
            raise ValueError(f"NGCF needs at least one propagation layer, got n_layers={self.n_layers}")
        if not 0.0 <= self.mess_dropout < 1.0:
            raise ValueError(f"mess_dropout must be in [0, 1), got {self.mess_dropout}")
        if self.reg < 0:
            raise ValueError(f"reg must be >= 0, got {self.reg}")
        return self


class NGCFLayer(nn.Module):
    """One embedding-propagation layer: LeakyReLU((L + I) E W1 + b1 + ((L E) * E) W2 + b2).

    ``bi_interaction=False`` drops the element-wise term ((L E) * E) W2 + b2 (a probe; NGCF has it)."""

    def __init__(self, d_in: int, d_out: int, slope: float, bi_interaction: bool = True):
        super().__init__()
        self.w1 = nn.Linear(d_in, d_out)
        self.w2 = nn.Linear(d_in, d_out) if bi_interaction else None
        for lin in (self.w1, self.w2):
            if lin is not None:
                nn.init.xavier_uniform_(lin.weight)
                nn.init.zeros_(lin.bias)
        self.slope = slope

    def forward(self, adj: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        side = sym_spmm(adj, e)
        out = self.w1(side + e)
        if self.w2 is not None:
            out = out + self.w2(side * e)
        return nn.functional.leaky_relu(out, self.slope)


def ngcf_representation(adj: torch.Tensor, e: torch.Tensor, layers: nn.ModuleList, dropout: nn.Module,
                        normalize: bool = True) -> torch.Tensor:
    """[E(0) | E(1)/||E(1)|| | ... | E(L)/||E(L)||]: NGCF layers with message dropout, outputs concatenated
    (``normalize=False``: the layer outputs unnormalised, a probe; NGCF normalises them)."""
    outs = [e]
    for layer in layers:
        e = dropout(layer(adj, e))
        outs.append(nn.functional.normalize(e, p=2, dim=1) if normalize else e)
    return torch.cat(outs, dim=1)


class NGCF(EgoBPRModel):
    def __init__(self, adj: torch.Tensor, n_users: int, n_items: int, config: NGCFConfig | None = None):
        super().__init__()
        self.config = cfg = (config or NGCFConfig()).validate()
        if adj.shape[0] != n_users + n_items:
            raise ValueError(f"adjacency has {adj.shape[0]} nodes, expected n_users + n_items = {n_users + n_items}")
        self.adj = adj
        self.n_users, self.n_items = n_users, n_items
        self.embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_users + n_items, cfg.dim)))
        width = cfg.layer_dim or cfg.dim
        dims = [cfg.dim] + [width] * cfg.n_layers
        self.layers = nn.ModuleList(NGCFLayer(a, b, cfg.leaky_slope) for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = nn.Dropout(cfg.mess_dropout)

    def _representation(self) -> torch.Tensor:
        return ngcf_representation(self.adj, self.embedding, self.layers, self.dropout)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        rep = self._representation()
        return rep[: self.n_users], rep[self.n_users:]

    def storage_bits(self) -> int:
        """fp32 of everything ranking is recomputed from: the ego table and the layers' weights and biases
        (the same convention as LightGCN, whose outputs are recomputed from the stored ego table)."""
        return 32 * sum(p.numel() for p in self.parameters())
