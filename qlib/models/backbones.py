"""GNN backbones: how layer-0 embeddings become the representations that are scored.

LEGCF's Table 4 (Sec. 4.5) runs its compositional embeddings, and a plain table of the same size, under
three base recommenders. A backbone maps the layer-0 embeddings ``x0`` [n, d] of the graph's nodes to their
representations [n, out_dim]; the model that owns it supplies ``x0`` (an ego table, or LEGCF's S E_meta
stacked with E_meta) and the normalised adjacency (with self loops when ``backbone.self_loops``).

- ``lightgcn`` (He et al., SIGIR 2020): E(l+1) = A E(l), representation mean_l E(l). No parameters.
- ``ngcf`` (Wang et al., SIGIR 2019): the layer rule, message dropout and normalised concatenation of
  :class:`qlib.models.NGCF` (its Eq. 7), with layers as wide as the embeddings. Parameters: W1, b1, W2, b2 per
  layer.
- ``lrgccf`` (Chen et al., AAAI 2020, "Revisiting Graph based Collaborative Filtering: A Linear Residual
  Graph Convolutional Network Approach"): linear layers E(l+1) = A~ E(l) W(l) on the self-loop-normalised
  A~ = (D + I)^{-1/2} (A + I) (D + I)^{-1/2}, no activation, and the "residual" prediction from the
  concatenation [E(0) | ... | E(L)]. W(l) is d x d, bias-free, Xavier-initialised (the paper's rule; the
  released code's choices are not re-verified here).
"""
from __future__ import annotations

import inspect

import torch
from torch import nn

from ..graph import sym_spmm
from ..propagation import combine_layers, propagate
from .ngcf import NGCFLayer, ngcf_representation

__all__ = ["Backbone", "LightGCNBackbone", "NGCFBackbone", "LRGCCFBackbone", "BACKBONES", "BACKBONE_LABELS",
           "make_backbone", "backbone_options", "check_backbone_options"]

#: backbone keys and the names the papers print
BACKBONE_LABELS = {"lightgcn": "LightGCN", "ngcf": "NGCF", "lrgccf": "LR-GCCF"}
BACKBONES = tuple(BACKBONE_LABELS)


class Backbone(nn.Module):
    """``forward(adj, x0) -> representations``; ``self_loops`` says which normalised graph it expects."""

    self_loops: bool = False

    def __init__(self, dim: int, n_layers: int):
        super().__init__()
        if dim < 1 or n_layers < 0:
            raise ValueError(f"a backbone needs dim >= 1 and n_layers >= 0, got dim={dim}, n_layers={n_layers}")
        self.dim, self.n_layers = dim, n_layers

    @property
    def out_dim(self) -> int:
        return self.dim

    def forward(self, adj: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


class LightGCNBackbone(Backbone):
    def __init__(self, dim: int, n_layers: int, combine: str = "mean"):
        super().__init__(dim, n_layers)
        self.combine = combine

    def forward(self, adj: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        return combine_layers(propagate(adj, x0, self.n_layers), self.combine)

    @property
    def out_dim(self) -> int:
        return self.dim * (self.n_layers + 1) if self.combine == "concat" else self.dim


class NGCFBackbone(Backbone):
    """NGCF's layers. The keyword switches take one part of NGCF away, to probe which part a model depends on
    (chapter 20): ``leaky_slope=1.0`` linear layers, ``bi_interaction=False`` no element-wise term,
    ``normalize=False`` unnormalised layer outputs, ``mess_dropout=0.0`` no message dropout."""

    def __init__(self, dim: int, n_layers: int, mess_dropout: float = 0.1, leaky_slope: float = 0.2,
                 bi_interaction: bool = True, normalize: bool = True):
        super().__init__(dim, n_layers)
        if n_layers < 1:
            raise ValueError(f"NGCF needs at least one propagation layer, got n_layers={n_layers}")
        if not 0.0 <= mess_dropout < 1.0:
            raise ValueError(f"mess_dropout must be in [0, 1), got {mess_dropout}")
        self.layers = nn.ModuleList(NGCFLayer(dim, dim, leaky_slope, bi_interaction) for _ in range(n_layers))
        self.dropout = nn.Dropout(mess_dropout)
        self.normalize = normalize

    def forward(self, adj: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        return ngcf_representation(adj, x0, self.layers, self.dropout, self.normalize)

    @property
    def out_dim(self) -> int:
        return self.dim * (self.n_layers + 1)


class LRGCCFBackbone(Backbone):
    self_loops = True

    def __init__(self, dim: int, n_layers: int):
        super().__init__(dim, n_layers)
        self.weights = nn.ModuleList(nn.Linear(dim, dim, bias=False) for _ in range(n_layers))
        for lin in self.weights:
            nn.init.xavier_uniform_(lin.weight)

    def forward(self, adj: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        outs = [x0]
        for w in self.weights:
            outs.append(w(sym_spmm(adj, outs[-1])))
        return torch.cat(outs, dim=1)

    @property
    def out_dim(self) -> int:
        return self.dim * (self.n_layers + 1)


_CLASSES = {"lightgcn": LightGCNBackbone, "ngcf": NGCFBackbone, "lrgccf": LRGCCFBackbone}


def backbone_options(name: str) -> tuple[str, ...]:
    """The keyword options the backbone ``name`` takes besides ``dim`` and ``n_layers``."""
    if name not in _CLASSES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {BACKBONES}")
    params = inspect.signature(_CLASSES[name].__init__).parameters
    return tuple(p for p in params if p not in ("self", "dim", "n_layers"))


def check_backbone_options(name: str, options) -> None:
    """ValueError naming the options (keys of ``options``) the backbone ``name`` does not have."""
    unknown = sorted(set(options) - set(backbone_options(name)))
    if unknown:
        raise ValueError(f"backbone {name!r} has no option {unknown}; its options are {backbone_options(name)}")


def make_backbone(name: str, dim: int, n_layers: int, **kwargs) -> Backbone:
    """The backbone ``name`` (one of :data:`BACKBONES`) for ``dim``-wide embeddings and ``n_layers`` layers;
    ``kwargs`` are its options (:func:`backbone_options`), ValueError for one it does not have."""
    check_backbone_options(name, kwargs)
    return _CLASSES[name](dim, n_layers, **kwargs)
