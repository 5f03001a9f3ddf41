"""LightGCN (or another GNN backbone) over a pluggable ego-embedding table: the base recommender of LEGCF's
baselines (Table 2) and of its same-size full tables under other backbones (Table 4).

LEGCF (Liang et al., SIGIR'24, Sec. 4.1.2) runs every lightweight-embedding baseline (QR, PEP, DHE,
NimbleTT, UD) under LightGCN: the table of :mod:`qlib.embedding_tables` produces the layer-0 embeddings of
all users and items, which are propagated and averaged exactly as in :class:`qlib.models.LightGCN`; the loss
is BPR on the final representations plus LightGCN's L2 term on the batch's ego rows (the rows the table
produced, not the table's internal parameters - the reading of LightGCN's regulariser for composed rows),
plus the table's own term where it has one (``table_reg``: PEP's threshold decay). Table 4 swaps the
propagation for NGCF's or LR-GCCF's (:mod:`qlib.models.backbones`); everything else stays.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch

from ..compiling import maybe_compile
from ..embedding_tables import (
    EmbeddingTable,
    legcf_budget,
    make_table,
    table_for_budget,
)
from ..graph import build_norm_adj
from .backbones import BACKBONES, Backbone, LightGCNBackbone, check_backbone_options, make_backbone
from .base import RecModel
from .lightgcn import LightGCNConfig, bpr_and_reg

__all__ = ["TableLightGCN", "table_lightgcn_factory"]


class TableLightGCN(RecModel):
    """LightGCN whose ego embeddings come from ``table`` (``table.n == n_users + n_items``).

    ``config`` is a :class:`LightGCNConfig` (``n_layers``, ``combine``, ``reg``); its ``dim`` must equal
    ``table.dim`` (default: a config with the table's dimension), ``init_std`` is the table's business.
    ``on_epoch_start`` and ``selectable`` delegate to the table (PEP's search/retrain switch).
    ``storage_bits() = 32 * table.num_params() + table.extra_bits()``: fp32 for every stored float (PEP:
    every non-zero) plus the table's non-float storage (PEP: CSR column indices and row pointers; DHE: hash
    coefficients), plus fp32 backbone weights (NGCF, LR-GCCF). Outputs are recomputed from the table, as
    LightGCN recomputes them from its ego table.
    ``backbone`` (default LightGCN's propagation with ``config``'s layers and combination) replaces the
    propagation; ``adj`` must then be the graph it expects (self loops for LR-GCCF; see the factory).
    """

    def __init__(self, adj: torch.Tensor, n_users: int, n_items: int, table: EmbeddingTable,
                 config: LightGCNConfig | None = None, backbone: Backbone | None = None):
        super().__init__()
        if not isinstance(table, EmbeddingTable):
            raise TypeError(f"table must be an EmbeddingTable from qlib.embedding_tables, got {type(table).__name__}")
        self.config = config or LightGCNConfig(dim=table.dim)
        n = n_users + n_items
        if adj.shape[0] != n:
            raise ValueError(f"adjacency has {adj.shape[0]} nodes, expected n_users + n_items = {n}")
        if table.n != n:
            raise ValueError(f"table has {table.n} rows, expected n_users + n_items = {n}")
        if self.config.dim != table.dim:
            raise ValueError(f"config.dim = {self.config.dim} but the table produces dim = {table.dim}")
        self.adj = adj
        self.n_users, self.n_items = n_users, n_items
        self.table = table
        self.backbone = backbone or LightGCNBackbone(table.dim, self.config.n_layers, self.config.combine)
        if self.backbone.dim != table.dim:
            raise ValueError(f"the backbone expects dim = {self.backbone.dim} but the table produces {table.dim}")
        self._head = bpr_and_reg

    def _ego_and_output(self) -> tuple[torch.Tensor, torch.Tensor]:
        ego = self.table()
        return ego, self.backbone(self.adj, ego)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        _, out = self._ego_and_output()
        return out[: self.n_users], out[self.n_users:]

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        ego, out = self._ego_and_output()
        bpr, reg = self._head(out[: self.n_users], out[self.n_users:], ego, self.n_users, users, pos, neg)
        parts = {"bpr": bpr, "reg": self.config.reg * reg}
        table_reg = self.table.regularizer()
        if table_reg is not None:
            parts["table_reg"] = table_reg
        return parts

    def compile_loss(self) -> None:
        """Compile the dense per-triple part of the loss (see qlib.compiling)."""
        self._head = maybe_compile(bpr_and_reg)

    def on_epoch_start(self, epoch: int, n_epochs: int) -> None:
        self.table.on_epoch_start(epoch, n_epochs)

    @property
    def selectable(self) -> bool:
        return self.table.selectable

    def state_facts(self) -> dict:
        return self.table.state_facts()

    def num_params(self) -> int:
        """The table's stored floats (PEP: its non-zeros), as LEGCF's #Param counts them."""
        return int(self.table.num_params())

    def storage_bits(self) -> int:
        return 32 * (self.table.num_params() + self.backbone.num_params()) + self.table.extra_bits()


def table_lightgcn_factory(kind: str, dim: int, n_layers: int, reg: float = 1e-4, combine: str = "mean",
                           budget: int | str | None = None, backbone: str = "lightgcn",
                           backbone_options: dict | None = None, **table_kwargs) -> Callable[[object, torch.Tensor], TableLightGCN]:
    """``(data, adj) -> TableLightGCN`` with a ``kind`` table (``full``, ``qr``, ``pep``, ``dhe``, ``tt``).

    ``budget=None`` builds the table from ``table_kwargs`` as given; an integer sizes it with
    :func:`table_for_budget` (``num_params() <= budget``); ``"legcf"`` uses LEGCF's budget for the
    dataset, :func:`legcf_budget` ``(n, dim)`` with c = 500, t = 2 (the paper's setting uses dim = 128).
    With a ``full`` table under a budget the model dimension may shrink (see :func:`table_for_budget`).
    Tables draw their initialisation from torch's global generator, like LightGCN (``fit`` callers seed it).
    ``backbone`` (``lightgcn``, ``ngcf``, ``lrgccf``) picks the propagation; the budget counts the table only
    (the backbone's weights are reported by ``backbone.num_params()``), as LEGCF's #Param counts embeddings.
    ``backbone_options`` are the backbone's switches (:func:`~qlib.models.backbones.backbone_options`).
    """
    if isinstance(budget, str) and budget != "legcf":
        raise ValueError(f"budget must be None, an integer or 'legcf', got {budget!r}")
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {BACKBONES}")
    options = dict(backbone_options or {})
    check_backbone_options(backbone, options)

    def build(data, adj: torch.Tensor) -> TableLightGCN:
        n = data.n_users + data.n_items
        if budget is None:
            table = make_table(kind, n, dim, **table_kwargs)
        else:
            n_params = legcf_budget(n, dim) if budget == "legcf" else budget
            table = table_for_budget(kind, n, dim, n_params, **table_kwargs)
        config = replace(LightGCNConfig(), dim=table.dim, n_layers=n_layers, reg=reg, combine=combine)
        if backbone == "lightgcn":
            net = LightGCNBackbone(table.dim, n_layers, **{"combine": combine, **options})
        else:
            net = make_backbone(backbone, table.dim, n_layers, **options)
        if net.self_loops:
            adj = build_norm_adj(data.train, device=adj.device, self_loops=True)
        return TableLightGCN(adj, data.n_users, data.n_items, table, config, backbone=net)

    return build
