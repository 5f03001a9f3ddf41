"""L2Q-GCN (Chen et al., arXiv 2112.01944): 1-bit quantization inside every LightGCN layer.

Continuous ego embeddings v(0) in R^c are propagated as in LightGCN (full precision; codes do not feed
back). Each layer's output, layer 0 included, is transformed by a learnable W in R^{c x d} and binarised,
q(l) = sign(W^T v(l)) (Eq. 3), with the clipped straight-through gradient (Eq. 10). The score is
f(Q_u)^T f(Q_i) with f(Q) = sum_l q(l) (Eqs. 5-6; the mean in training). The loss is
L_rec + L_bpr + lambda ||Theta||^2 (Eq. 9): L_rec a sigmoid cross-entropy reconstruction on the
full-precision last layer v(L) with the batch's sampled negative (Eq. 7), L_bpr BPR on the quantized scores.

``variant="anl"`` adds per-node, per-layer rescaling alpha(l) = ||W^T v(l)||_1 / d (Eq. 12; computed, not
learned; taken on the quantizer's input so that alpha q approximates it) and two-step annealing: the
quantizer is the identity for the first half of the epochs, then switched on (Sec. 4.2.2).

Switches for the ablations of Table 3: ``layerwise=False`` (w/o TQ: one code of the final aggregated
embedding), ``use_rec`` / ``use_bpr`` (w/o L_rec, w/o L_bpr: the codes are then shaped only through
the embeddings L_rec trains, W keeping its initialisation), ``rescale="none" | "l1" | "learned"`` (w/o RAF, default,
w/in LF) and ``anneal`` (w/o AT).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..compiling import maybe_compile
from ..propagation import combine_layers, propagate
from ..quantizers import SignSTE, l1_scale
from .base import RecModel, bpr_loss, row_dots, sum_sq_rows

__all__ = ["L2QGCNConfig", "L2QGCN", "l2q_head"]


def l2q_head(rep: torch.Tensor | None, last: torch.Tensor | None, ego: torch.Tensor, transform: torch.Tensor,
             n_users: int, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor):
    """The per-triple part of Eq. 9: (L_bpr on the quantized representation ``rep`` or 0 when None,
    L_rec on the full-precision last layer ``last`` or 0 when None, the unweighted L2 term)."""
    zero = ego.new_zeros(())
    bpr = rec = zero
    if rep is not None:
        bpr = bpr_loss(row_dots(rep, users, rep, n_users + pos), row_dots(rep, users, rep, n_users + neg))
    if last is not None:
        sp = torch.nn.functional.softplus
        rec = (sp(-row_dots(last, users, last, n_users + pos)) + sp(row_dots(last, users, last, n_users + neg))).mean()
    reg = 0.5 * (sum_sq_rows(ego, users, n_users + pos, n_users + neg) + transform.pow(2).sum()) / users.shape[0]
    return bpr, rec, reg


@dataclass
class L2QGCNConfig:
    """Defaults: L2Q-GCN_end with the paper's L = 2, d = 64 (Gowalla), lambda = 1e-4."""

    variant: str = "end"          # "end" or "anl" (sets rescale/anneal defaults below when left as None)
    emb_dim: int = 64             # c, the continuous ego dimension
    code_dim: int = 64            # d, bits per layer code
    n_layers: int = 2
    reg: float = 1e-4
    init_std: float = 0.1
    clip: float = 1.0             # STE passes gradients where |x| <= clip
    layerwise: bool = True        # False: "w/o TQ", one code of the final (mean) embedding
    use_rec: bool = True
    use_bpr: bool = True
    rescale: str | None = None    # "none" | "l1" | "learned"; None: "l1" for anl, "none" for end
    anneal: bool | None = None    # None: True for anl, False for end
    anneal_fraction: float = 0.5  # share of the epochs trained unquantized

    def resolved(self) -> "L2QGCNConfig":
        if self.variant not in ("end", "anl"):
            raise ValueError(f"unknown L2Q-GCN variant {self.variant!r}; use 'end' or 'anl'")
        rescale = self.rescale if self.rescale is not None else ("l1" if self.variant == "anl" else "none")
        if rescale not in ("none", "l1", "learned"):
            raise ValueError(f"unknown rescale {rescale!r}; use 'none', 'l1' or 'learned'")
        anneal = self.anneal if self.anneal is not None else self.variant == "anl"
        if not (self.use_rec or self.use_bpr):
            raise ValueError("at least one of use_rec / use_bpr must be on")
        return L2QGCNConfig(**{**self.__dict__, "rescale": rescale, "anneal": anneal})


class L2QGCN(RecModel):
    def __init__(self, adj: torch.Tensor, n_users: int, n_items: int, config: L2QGCNConfig | None = None):
        super().__init__()
        self.config = cfg = (config or L2QGCNConfig()).resolved()
        self.adj = adj
        self.n_users, self.n_items = n_users, n_items
        n = n_users + n_items
        if adj.shape[0] != n:
            raise ValueError(f"adjacency has {adj.shape[0]} nodes, expected n_users + n_items = {n}")
        self.embedding = nn.Parameter(torch.randn(n, cfg.emb_dim) * cfg.init_std)
        self.transform = nn.Parameter(torch.empty(cfg.emb_dim, cfg.code_dim))
        nn.init.xavier_uniform_(self.transform)
        self.quantize = SignSTE(cfg.clip)
        n_codes = cfg.n_layers + 1 if cfg.layerwise else 1
        self.learned_scale = nn.Parameter(torch.ones(n, n_codes)) if cfg.rescale == "learned" else None
        self._head = l2q_head

    def on_epoch_start(self, epoch: int, n_epochs: int) -> None:
        """Annealing: the quantizer stays off for the first ``anneal_fraction`` of the epochs."""
        self.quantize.enabled = not (self.config.anneal and epoch < self.config.anneal_fraction * n_epochs)

    @property
    def selectable(self) -> bool:
        """Only quantized states count as results: annealing's full-precision phase is never selected."""
        return self.quantize.enabled

    def _layers(self) -> list[torch.Tensor]:
        return propagate(self.adj, self.embedding, self.config.n_layers)

    def codes(self, layers: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """Per-layer (rescaled) codes of every node: [N, d] each; one entry when not layer-wise."""
        layers = self._layers() if layers is None else layers
        inputs = layers if self.config.layerwise else [combine_layers(layers, "mean")]
        out = []
        for l, v in enumerate(inputs):
            h = v @ self.transform
            q = self.quantize(h)
            if self.config.rescale == "l1":
                q = q * l1_scale(h)
            elif self.config.rescale == "learned":
                q = q * self.learned_scale[:, l:l + 1]
            out.append(q)
        return out

    def _representation(self, layers: list[torch.Tensor] | None = None) -> torch.Tensor:
        """f(Q)/(L+1) for every node: the mean of the codes (same ranking as the paper's sum)."""
        return combine_layers(self.codes(layers), "mean")

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        rep = self._representation()
        return rep[: self.n_users], rep[self.n_users:]

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.loss_from_layers(self._layers(), users, pos, neg)

    def loss_from_layers(self, layers: list[torch.Tensor], users: torch.Tensor, pos: torch.Tensor,
                         neg: torch.Tensor) -> dict[str, torch.Tensor]:
        """Eq. 9 given the propagated layers v(0..L) (the loss-landscape analysis perturbs them)."""
        cfg = self.config
        rep = self._representation(layers) if cfg.use_bpr else None
        bpr, rec, reg = self._head(rep, layers[-1] if cfg.use_rec else None, self.embedding, self.transform,
                                   self.n_users, users, pos, neg)
        parts: dict[str, torch.Tensor] = {}
        if cfg.use_bpr:
            parts["bpr"] = bpr
        if cfg.use_rec:
            parts["rec"] = rec
        parts["reg"] = cfg.reg * reg
        return parts

    def compile_loss(self) -> None:
        """Compile the per-triple part of the loss (gathers, dot products, softplus, L2; see qlib.compiling)."""
        self._head = maybe_compile(l2q_head)

    def storage_bits(self) -> int:
        """(L+1) N d bits of codes (one code when not layer-wise), plus 32 bits per factor when rescaled (Eq. 14)."""
        n = self.n_users + self.n_items
        n_codes = self.config.n_layers + 1 if self.config.layerwise else 1
        per_code = self.config.code_dim + (32 if self.config.rescale != "none" else 0)
        return n_codes * n * per_code
