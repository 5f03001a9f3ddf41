"""Quantizers as small autograd functions wrapped in modules.

- :func:`sign_ste`: 1-bit sign in forward, straight-through gradient with clipping in backward,
  d q / d x := 1{|x| <= clip} (L2Q-GCN Eq. 10; the hard-tanh STE).
- :func:`l1_scale`: the per-row rescaling factor ||x||_1 / d (L2Q-GCN Eq. 12), computed without gradient
  (as the BiGeaR code computes it inside its autograd function).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["sign_ste", "l1_scale", "SignSTE", "binary_codes"]


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, clip: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.clip = clip
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= ctx.clip).to(grad.dtype), None


def sign_ste(x: torch.Tensor, clip: float = 1.0) -> torch.Tensor:
    """sign(x) in {-1, +1} (0 maps to +1); backward passes the gradient where |x| <= clip."""
    return _SignSTE.apply(x, clip)


def l1_scale(x: torch.Tensor) -> torch.Tensor:
    """||x||_1 / d per row, shape [n, 1], detached (no gradient flows into the factor)."""
    return x.detach().abs().mean(dim=1, keepdim=True)


def binary_codes(x: torch.Tensor) -> torch.Tensor:
    """The stored form of sign codes: {0, 1} as uint8 (the paper's translation from {-1, 1})."""
    return (x >= 0).to(torch.uint8)


class SignSTE(nn.Module):
    """Module form of :func:`sign_ste`; ``enabled=False`` makes it the identity (annealing's first phase)."""

    def __init__(self, clip: float = 1.0):
        super().__init__()
        self.clip = clip
        self.enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sign_ste(x, self.clip) if self.enabled else x

    def extra_repr(self) -> str:
        return f"clip={self.clip}, enabled={self.enabled}"
