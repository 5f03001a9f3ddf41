"""The protocol every model shares (see the book's protocol page).

- ``forward()`` returns (user, item) representations over the whole graph;
- ``loss(users, pos, neg)`` returns named loss parts (``bpr``, ``reg``, ...) whose sum is minimised;
- ``scorer()`` computes the representations once and returns ``users -> scores over all items``;
- ``storage_bits()`` says what the stored representation used for ranking costs;
- ``on_epoch_start(epoch, n_epochs)`` lets schedules (annealing, temperatures) react;
- ``selectable`` says whether the current state may be selected as the best (annealing's
  full-precision phase may not);
- ``state_facts()`` names facts of the trained state worth keeping in the run's record (PEP: whether its
  mask was cut to the budget by magnitude); empty by default.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

__all__ = ["RecModel", "bpr_loss", "l2_reg", "sum_sq_rows", "row_dots", "eval_mode"]


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block with ``model.eval()`` (no dropout), then restore its training flag."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """mean softplus(s_neg - s_pos) = -mean log sigmoid(s_pos - s_neg)."""
    return torch.nn.functional.softplus(neg_scores - pos_scores).mean()


def l2_reg(*ego: torch.Tensor) -> torch.Tensor:
    """LightGCN's regulariser 0.5 * sum ||e||^2 / batch over the ego (layer-0) rows of the batch."""
    return 0.5 * sum(e.pow(2).sum() for e in ego) / ego[0].shape[0]


def sum_sq_rows(table: torch.Tensor, *index_sets: torch.Tensor) -> torch.Tensor:
    """``sum_s ||table[index_sets[s]]||^2`` without gathering the rows: each row's squared norm weighted by
    how often the batch names it. Same value and gradient as the gathered form; its backward is one dense
    multiply over the table instead of a scatter-add of every gathered row, which dominates a compiled
    large-batch step on a CPU (bench/levers.py, "L2 term by row counts")."""
    counts = table.new_zeros(table.shape[0])
    for idx in index_sets:
        counts = counts.index_add(0, idx, table.new_ones(idx.shape[0]))
    return (counts * table.pow(2).sum(1)).sum()


#: elements of one chunk's gathered rows in :func:`row_dots` (4 MiB of float32: cache-sized, reused)
ROW_DOTS_CHUNK_ELEMENTS = 2**20


class _ChunkedRowDots(torch.autograd.Function):
    """``(x[a] * y[b]).sum(1)`` over row chunks; backward scatter-adds ``g * y[b]`` into x's rows and
    ``g * x[a]`` into y's, chunk by chunk. No [batch, d] gather is ever materialised or saved."""

    @staticmethod
    def forward(ctx, x, a, y, b, chunk):  # type: ignore[override]
        out = x.new_empty(a.shape[0])
        for s in range(0, a.shape[0], chunk):
            torch.sum(x[a[s:s + chunk]] * y[b[s:s + chunk]], dim=1, out=out[s:s + chunk])
        ctx.save_for_backward(x, a, y, b)
        ctx.chunk = chunk
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, a, y, b = ctx.saved_tensors
        gx = torch.zeros_like(x) if ctx.needs_input_grad[0] else None
        gy = torch.zeros_like(y) if ctx.needs_input_grad[2] else None
        for s in range(0, a.shape[0], ctx.chunk):
            g = grad[s:s + ctx.chunk].unsqueeze(1)
            ai, bi = a[s:s + ctx.chunk], b[s:s + ctx.chunk]
            if gx is not None:
                gx.index_add_(0, ai, g * y[bi])
            if gy is not None:
                gy.index_add_(0, bi, g * x[ai])
        return gx, None, gy, None, None


def row_dots(x: torch.Tensor, a: torch.Tensor, y: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(x[a] * y[b]).sum(1)``: the scores of a batch of (row of x, row of y) pairs.

    On the CPU in eager mode it runs over chunks of rows (:class:`_ChunkedRowDots`): an eager large-batch
    step otherwise allocates, fills and saves several [batch, d] gathers, which costs more than the
    arithmetic and gigabytes of memory (bench/eager_step.py). Under ``torch.compile`` (which fuses the
    gathers into the product itself) and on a GPU (where one kernel beats a loop of small ones) it is the
    plain expression. Same values; gradients equal up to floating-point summation order."""
    if x.is_cuda or torch.compiler.is_compiling():
        return (x[a] * y[b]).sum(1)
    chunk = max(1, ROW_DOTS_CHUNK_ELEMENTS // max(1, x.shape[1]))
    return _ChunkedRowDots.apply(x, a, y, b, chunk)


class RecModel(nn.Module):
    n_users: int
    n_items: int

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def on_epoch_start(self, epoch: int, n_epochs: int) -> None:
        """Hook for schedules; the default does nothing."""

    def compile_loss(self) -> None:
        """Compile the dense part of the loss where the model supports it (default: nothing to do)."""

    @property
    def selectable(self) -> bool:
        """Whether an evaluation now may be selected as the best (False while the model is not yet in
        its final form, e.g. the unquantized first phase of an annealing schedule)."""
        return True

    def state_facts(self) -> dict:
        """Facts of the current state for the run's record (JSON values); none by default."""
        return {}

    @torch.no_grad()
    def scorer(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """Compute representations once; return a function user ids -> [b, n_items] scores."""
        with eval_mode(self):
            users, items = self.forward()
        items_t = items.t().contiguous()
        return lambda u: users[u.to(users.device)] @ items_t

    def num_params(self) -> int:
        """Parameters counted the way the papers' #Param columns count them (default: every trainable number)."""
        return sum(p.numel() for p in self.parameters())

    def storage_bits(self) -> int:
        """Bits of the representation stored for ranking (default: fp32 of what ``forward`` returns)."""
        with torch.no_grad():
            users, items = self.forward()
        return 32 * (users.numel() + items.numel())
