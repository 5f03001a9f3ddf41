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

__all__ = ["RecModel", "bpr_loss", "l2_reg", "sum_sq_rows", "eval_mode"]


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
