"""Quant-gumbel: the Gumbel-softmax variant of L2Q-GCN in L2Q-GCN's Table 2 (Chen et al., arXiv 2112.01944,
Sec. 5.2: "We first expand each embedding bit to a size-two one-hot encoding. Then Quant-gumbel utilizes the
Gumbel-softmax trick to replace sign function as relaxation for binary code generation"; Gumbel-softmax:
Jang et al., ICLR 2017; Maddison et al., ICLR 2017).

Everything but the quantizer is L2Q-GCN_end (see :mod:`qlib.models.l2q_gcn`): continuous ego embeddings
propagated as in LightGCN, every layer (0..L) transformed by a learnable W in R^{c x d}, the codes averaged
over layers, loss L_rec + L_bpr + lambda ||Theta||^2 (the same per-triple head, :func:`l2q_head`).

The quantizer, per bit of h = W^T v(l): the two classes (+1, -1) get the logits (h, -h) (the size-two
one-hot expansion); training draws y = softmax((logits + g) / tau) with g i.i.d. Gumbel(0, 1)
(g = -log(-log(U + eps) + eps), eps = 1e-20 as BiGeaR's ``--eps``) and uses the relaxed bit
y_+ - y_- in (-1, 1); evaluation uses the hard code argmax = sign(h) in {-1, +1}.

Temperature: tau <- max(decay * tau, tau_min) at the start of every epoch from ``tau_start_epoch`` on (the
rule of BiGeaR's leftover ``utils.update_temp``), computed in closed form from the epoch so that resumed runs
match; kept in a buffer so that the selected state carries its tau.

Reconstructed (the paper gives none of them): the (h, -h) logits, the relaxed bit y_+ - y_-, and the
schedule's numbers (tau_init 1, decay 0.97, tau_min 0.1, start epoch 10; BiGeaR's released ``parse.py`` no
longer defines temp_decay / temp_spot / min_temp).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..compiling import maybe_compile
from ..propagation import combine_layers, propagate
from .base import RecModel
from .l2q_gcn import l2q_head

__all__ = ["QuantGumbelConfig", "QuantGumbel", "gumbel_sign", "annealed_temperature"]


def gumbel_sign(h: torch.Tensor, tau: float | torch.Tensor, eps: float = 1e-20) -> torch.Tensor:
    """Relaxed {-1, +1} bits: y_+ - y_- with y = softmax(((h, -h) + Gumbel noise) / tau) per element."""
    logits = torch.stack([h, -h], dim=-1)
    u = torch.rand_like(logits)
    g = -torch.log(-torch.log(u + eps) + eps)
    y = torch.softmax((logits + g) / tau, dim=-1)
    return y[..., 0] - y[..., 1]


def annealed_temperature(epoch: int, tau_init: float, decay: float, tau_min: float, start_epoch: int) -> float:
    """The temperature after applying tau <- max(decay * tau, tau_min) at every epoch >= start_epoch."""
    steps = max(0, epoch - start_epoch + 1)
    return max(tau_init * decay ** steps, tau_min)


@dataclass
class QuantGumbelConfig:
    """Defaults: L2Q-GCN_end's (L = 2, c = d = 64, lambda = 1e-4) plus the temperature schedule."""

    emb_dim: int = 64
    code_dim: int = 64
    n_layers: int = 2
    reg: float = 1e-4
    init_std: float = 0.1
    tau_init: float = 1.0
    tau_decay: float = 0.97
    tau_min: float = 0.1
    tau_start_epoch: int = 10
    eps: float = 1e-20

    def validate(self) -> "QuantGumbelConfig":
        if self.emb_dim < 1 or self.code_dim < 1:
            raise ValueError(f"emb_dim and code_dim must be >= 1, got {self.emb_dim}, {self.code_dim}")
        if self.n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, got {self.n_layers}")
        if not (self.tau_init > 0 and self.tau_min > 0 and 0 < self.tau_decay <= 1):
            raise ValueError("the temperature schedule needs tau_init > 0, tau_min > 0 and 0 < tau_decay <= 1")
        if self.tau_start_epoch < 0 or self.reg < 0:
            raise ValueError("tau_start_epoch and reg must be >= 0")
        return self


class QuantGumbel(RecModel):
    def __init__(self, adj: torch.Tensor, n_users: int, n_items: int, config: QuantGumbelConfig | None = None):
        super().__init__()
        self.config = cfg = (config or QuantGumbelConfig()).validate()
        n = n_users + n_items
        if adj.shape[0] != n:
            raise ValueError(f"adjacency has {adj.shape[0]} nodes, expected n_users + n_items = {n}")
        self.adj = adj
        self.n_users, self.n_items = n_users, n_items
        self.embedding = nn.Parameter(torch.randn(n, cfg.emb_dim) * cfg.init_std)
        self.transform = nn.Parameter(nn.init.xavier_uniform_(torch.empty(cfg.emb_dim, cfg.code_dim)))
        self.register_buffer("tau", torch.tensor(cfg.tau_init))
        self._head = l2q_head

    def on_epoch_start(self, epoch: int, n_epochs: int) -> None:
        cfg = self.config
        self.tau.fill_(annealed_temperature(epoch, cfg.tau_init, cfg.tau_decay, cfg.tau_min, cfg.tau_start_epoch))

    def quantize(self, h: torch.Tensor) -> torch.Tensor:
        """Relaxed Gumbel-softmax bits in training, hard sign(h) in {-1, +1} in evaluation."""
        if self.training:
            return gumbel_sign(h, self.tau, self.config.eps)
        return torch.where(h >= 0, 1.0, -1.0)

    def codes(self, layers: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """Per-layer codes of every node, [N, d] each (layers 0..L)."""
        layers = propagate(self.adj, self.embedding, self.config.n_layers) if layers is None else layers
        return [self.quantize(v @ self.transform) for v in layers]

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        rep = combine_layers(self.codes(), "mean")
        return rep[: self.n_users], rep[self.n_users:]

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        layers = propagate(self.adj, self.embedding, self.config.n_layers)
        rep = combine_layers(self.codes(layers), "mean")
        bpr, rec, reg = self._head(rep, layers[-1], self.embedding, self.transform, self.n_users, users, pos, neg)
        return {"bpr": bpr, "rec": rec, "reg": self.config.reg * reg}

    def compile_loss(self) -> None:
        self._head = maybe_compile(l2q_head)

    def storage_bits(self) -> int:
        """(L+1) N d bits: the hard codes of every layer (as L2Q-GCN_end, Eq. 14)."""
        return (self.config.n_layers + 1) * (self.n_users + self.n_items) * self.config.code_dim
