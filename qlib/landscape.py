"""Loss landscapes under the perturbation protocol of L2Q-GCN's Eq. 11 (Sec. 4.1, Fig. 3).

Every user's layer embeddings are shifted by ``p_u * mean|v_u(l)| * 1`` and every item's by
``p_i * mean|v_i(l)| * 1`` (per node and layer, ``mean|.|`` the mean absolute entry), and the training loss
of a fixed set of triples is evaluated at each (p_u, p_i) of a grid. The same trained model is evaluated
twice: quantized, and as "its full-precision version (excluding the quantization component)", i.e. with
the quantizer switched to the identity. The paper draws |p| from {0.01, ..., 0.50} with both signs.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["perturbation_grid", "loss_landscape"]


def perturbation_grid(max_p: float = 0.5, step: float = 0.05) -> np.ndarray:
    """Signed perturbation magnitudes -max_p .. max_p (0 included) in steps of ``step``."""
    if not (0 < step <= max_p):
        raise ValueError(f"need 0 < step <= max_p, got step={step}, max_p={max_p}")
    n = int(round(max_p / step))
    return np.round(np.arange(-n, n + 1) * step, 6)


def _shift(v: torch.Tensor, p: float) -> torch.Tensor:
    return v + p * v.abs().mean(dim=1, keepdim=True)


@torch.no_grad()
def loss_landscape(model, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor,
                   ps: np.ndarray | None = None, quantized: bool = True) -> np.ndarray:
    """Total loss (sum of the model's loss parts) at every (p_u, p_i) of ``ps x ps``: array [len(ps), len(ps)],
    rows indexed by the user perturbation. ``model`` must expose ``_layers()``, ``loss_from_layers`` and a
    ``quantize`` module with an ``enabled`` switch (as :class:`qlib.models.L2QGCN` does)."""
    ps = perturbation_grid() if ps is None else np.asarray(ps, dtype=float)
    was_enabled, was_training = model.quantize.enabled, model.training
    model.eval()
    model.quantize.enabled = quantized
    try:
        layers = model._layers()
        nu = model.n_users
        out = np.empty((len(ps), len(ps)))
        for a, pu in enumerate(ps):
            user_part = [_shift(v[:nu], float(pu)) for v in layers]
            for b, pi in enumerate(ps):
                shifted = [torch.cat([u, _shift(v[nu:], float(pi))]) for u, v in zip(user_part, layers)]
                parts = model.loss_from_layers(shifted, users, pos, neg)
                out[a, b] = float(sum(parts.values()))
    finally:
        model.quantize.enabled = was_enabled
        model.train(was_training)
    return out
