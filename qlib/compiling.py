"""Optional torch.compile of the dense part of a loss, with a safe fall-back to eager execution.

The sparse propagation cannot be compiled by inductor; the per-triple part (gathers, dot products,
softplus, the L2 term and their backward scatter-adds) can, and fusing it makes very large batches cheap
(measured in bench/levers.py). Compilation needs a C++ toolchain; where it fails the eager function is used.
"""
from __future__ import annotations

import logging
from typing import Callable

import torch

__all__ = ["maybe_compile"]

log = logging.getLogger(__name__)


def maybe_compile(fn: Callable, enabled: bool = True) -> Callable:
    """``torch.compile(fn)`` when enabled, falling back to ``fn`` (with a warning) if compiling fails."""
    if not enabled:
        return fn
    state = {"fn": torch.compile(fn, dynamic=False)}

    def call(*args, **kwargs):
        try:
            return state["fn"](*args, **kwargs)
        except Exception as err:  # no compiler toolchain, an unsupported op, ...
            if state["fn"] is fn:
                raise
            log.warning("torch.compile failed (%s: %s); using eager execution", type(err).__name__, err)
            state["fn"] = fn
            return fn(*args, **kwargs)

    call.__wrapped__ = fn  # type: ignore[attr-defined]
    return call
