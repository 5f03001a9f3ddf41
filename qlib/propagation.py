"""LightGCN-style propagation E^(l) = A E^(l-1) and the ways of combining layers."""
from __future__ import annotations

from typing import Sequence

import torch

from .graph import sym_spmm

__all__ = ["propagate", "combine_layers", "COMBINE_MODES", "layer_weights"]

COMBINE_MODES = ("mean", "sum", "weighted", "concat")


def propagate(adj: torch.Tensor, x0: torch.Tensor, n_layers: int) -> list[torch.Tensor]:
    """Return [E^(0), E^(1), ..., E^(L)] with E^(l) = adj @ E^(l-1); adj must be symmetric."""
    if n_layers < 0:
        raise ValueError(f"n_layers must be >= 0, got {n_layers}")
    layers = [x0]
    for _ in range(n_layers):
        layers.append(sym_spmm(adj, layers[-1]))
    return layers


def layer_weights(n_layers: int) -> list[float]:
    """BiGeaR's layer weights w_l = (l + 1) / (L + 1), used by the `weighted` and `concat` modes."""
    return [(l + 1) / (n_layers + 1) for l in range(n_layers + 1)]


def combine_layers(layers: Sequence[torch.Tensor], mode: str = "mean", weights: Sequence[float] | None = None) -> torch.Tensor:
    """Combine per-layer embeddings.

    mean: (1/(L+1)) sum_l E^(l) (LightGCN); sum: sum_l E^(l); weighted: sum_l w_l E^(l);
    concat: [w_0 E^(0) | ... | w_L E^(L)] (BiGeaR; weights default to ones when not given).
    """
    if mode not in COMBINE_MODES:
        raise ValueError(f"unknown layer combination {mode!r}; choose one of {COMBINE_MODES}")
    if mode in ("mean", "sum"):
        total = layers[0]
        for e in layers[1:]:
            total = total + e  # no [L+1, N, d] stack: one less full-size copy per step
        return total / len(layers) if mode == "mean" else total
    if weights is None:
        weights = layer_weights(len(layers) - 1) if mode == "weighted" else [1.0] * len(layers)
    if len(weights) != len(layers):
        raise ValueError(f"got {len(weights)} weights for {len(layers)} layers")
    if mode == "weighted":
        return sum(w * e for w, e in zip(weights, layers))
    return torch.cat([w * e for w, e in zip(weights, layers)], dim=1)
