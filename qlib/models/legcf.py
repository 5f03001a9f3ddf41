"""LEGCF (Liang et al., SIGIR'24): compositional embeddings for LightGCN with a learned sparse assignment.

Each of the N = |U| + |I| entities is composed from t of c shared meta-embeddings E_meta in R^{c x d}
through a sparse, non-negative assignment matrix S in R^{N x c}: E_hat = S E_meta (Eq. 1). Meta-embeddings
join the graph as c extra nodes: A' = [[A, S], [S^T, 0]] (Eq. 5), H(0) = [E_hat ; E_meta] (Eq. 6),
H(l+1) = D^{-1/2} A' D^{-1/2} H(l) (Eq. 7), H = mean_l H(l) (Eq. 8), H_full = H[:N], H_meta = H[N:] (Eq. 9),
score h_u . h_i (Eq. 3), BPR + L2 (Eq. 4). E_meta is learned by gradient; S is never a parameter: it is
initialised from a METIS partition (Sec. 3.4) and, after a pre-training stage, replaced every m epochs by
the closed form S = top-t(H_full H_meta^+) (Eqs. 14-16, Algorithm 1), after which A' is rebuilt.
The mechanics live in :mod:`qlib.assignment`.

Paper vs. LEGCF's public code (github.com/xurong-liang/LEGCF), and what this module does. Defaults follow
the paper; every code choice the paper does not have is a switch.

1. Composition. Paper: E_hat = S E_meta (Eq. 1). Code: tanh(S E_meta). ``tanh_compose`` (default False).
2. Score. Paper: h_u . h_i (Eq. 3). Code: torchfm FM + FeaturesLinear, i.e. h_u . h_i + b_u + b_i + b_0
   with per-node biases (N(0, 1) init, unregularised) and a global bias. ``bias`` (default False). Only
   b_i changes the ranking; b_u and b_0 cancel in BPR and in a user's ranking.
3. Entity block of A'. Paper: the 0/1 adjacency A of Eq. 2, the whole A' normalised once by its degree
   matrix (Eq. 7). Code: the already LightGCN-normalised D^{-1/2} A D^{-1/2} inserted, then normalised
   again. ``adj_block="raw" | "normalized"`` (default "raw"). Both weight the S block with S's values.
4. E_meta init. Paper: Xavier (Sec. 4.1.4). Code: N(0, 1). ``meta_init="xavier" | "normal"``;
   ``meta_init_gain`` scales either (default 1.0, both sources' scale; a probe, not a source's choice).
5. Anchor weight w*. Paper: searched per dataset in {0.5, ..., 0.9} (Sec. 4.1.4, Fig. 4c; per the
   README at 68d63cb gives Gowalla 0.5, Yelp2020 0.6, Amazon-book 0.9, see ``ANCHOR_WEIGHTS``).
   Code: hard-coded 0.9. ``anchor_weight`` (default 0.5, Gowalla's).
6. The other t-1 initial ids. Paper: drawn with replacement into a set (collisions collapse). Code:
   without replacement, rows sum to 1. ``init_replace`` (default True); identical for t <= 2.
   With t = 1 the paper's weight is w*, the code's 1.0.
7. Random init (Table 3 "random"): the anchor is a uniformly random meta-embedding with weight w*
   (code: 0.9), the rest as in 6.
8. METIS. Code: ``dgl.metis_partition_assignment`` (k-way, no edge weights). Here: pymetis k-way on the
   same unweighted graph, seeded; the parts differ numerically from DGL's.
9. Top-t sparsification (Eq. 15). Both keep the t largest *values* of each signed row. The paper defines
   S >= 0 and the code asserts that A' has no negative entry, so a negative kept weight is set to 0
   (``clamp_negative``, default True; a no-op whenever the code itself would run).
10. Update timing. Algorithm 1 trains an epoch of stage 2, then updates if epoch_index mod m == 0 (so the
    first update follows one stage-2 epoch). Code: updates inside the first mini-batch of every stage-2
    epoch (that batch's loss still uses the old S; every-k-epochs counts absolute epochs). Here:
    ``on_epoch_start(e)`` updates before any batch when e >= P and (e - P) mod m == 0.
11. Stage switch. Paper/code: pre-train until validation convergence (code: NDCG@5, patience 10), then
    stage 2 until convergence. Here: a fixed ``pretrain_epochs`` P (None: half the run) and the shared
    trainer's selection; with ``select_after_update`` (default True) only states after the first update
    are selectable, as the paper reports stage-2 checkpoints (Table 3 "update off" is
    ``update_assignment=False``).
12. L2 term. Paper: lambda ||Theta||^2 over trainable parameters, lambda from {0, 5e-4, ...} (Eq. 4).
    Code: 5 x 1e-4 times the summed squared norms of the batch's ego rows (composed layer-0 embeddings
    of u, i+, i-) over the batch size. Here the code's form: ``reg`` * sum ||x||^2 / B, reg = 5e-4
    (no 1/2, unlike :func:`qlib.models.base.l2_reg`). BPR is a mean over the batch (paper: a sum).
13. Size. Paper's #Param (Table 2) = c d + nnz(S) (0.21m on Gowalla = 500 x 128 + 70,839 x 2): indices and
    biases are not counted; :meth:`LEGCF.num_params` counts that way. :meth:`LEGCF.storage_bits` counts
    what is stored: fp32 codebook, fp32 weights plus ceil(log2 c)-bit ids for S, fp32 biases when on.
14. Eq. 9 reads H_full <- H[:, N:]; the intended split (rows :N) is used.
15. Other backbones (Table 4, Sec. 4.5: "appropriate dimension aggregation techniques" feed the propagated
    embeddings to the update; nothing more is said). ``backbone="ngcf" | "lrgccf"`` propagates
    H(0) = [E_hat ; E_meta] over A' with NGCF's or LR-GCCF's layers (:mod:`qlib.models.backbones`; LR-GCCF's
    A' + I normalised) and H is that backbone's own layer aggregation, the concatenation of its L + 1 layer
    outputs, which the update uses as is (H_full H_meta^+ needs no particular width;
    ``update_aggregation="concat"``), or, with ``update_aggregation="mean"``, the mean of those L + 1 blocks
    (d wide, as LightGCN's H: another reading of the "dimension aggregation"). The backbones' layer
    weights are trained by gradient, are not in the paper's #Param (:meth:`LEGCF.num_params`) and are in
    :meth:`LEGCF.storage_bits`. Updates run with dropout off (``eval`` mode).
Training-recipe choices (5 negatives per positive, batch 2048, Adam 1e-3, gradient-value clip 3) belong to
:class:`qlib.train.TrainConfig` (``sampler="legcf", n_neg=5, grad_clip=3``), not to the model.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ..assignment import (
    INIT_METHODS,
    assignment_matrix,
    expanded_adjacency,
    init_assignment,
    metis_partition,
    update_assignment,
)
from ..compiling import maybe_compile
from ..graph import bipartite_adjacency, normalize_symmetric
from .backbones import BACKBONES, check_backbone_options, make_backbone
from .base import RecModel, bpr_loss, eval_mode, row_dots, sum_sq_rows

__all__ = ["LEGCFConfig", "LEGCF", "legcf_factory", "ANCHOR_WEIGHTS"]

#: w* per dataset: LEGCF README at commit 68d63cb (an earlier README, 03f68c0, listed 0.9 for all);
#: the code hard-codes 0.9.
ANCHOR_WEIGHTS = MappingProxyType({"gowalla": 0.5, "yelp2020": 0.6, "amazon-book": 0.9})
ADJ_BLOCKS = ("raw", "normalized")
META_INITS = ("xavier", "normal")
UPDATE_AGGREGATIONS = ("concat", "mean")


@dataclass
class LEGCFConfig:
    """Defaults: the paper's Gowalla setting (d = 128, c = 500, t = 2, L = 3, w* = 0.5, update every epoch)."""

    dim: int = 128
    n_meta: int = 500                  # c, meta-embeddings (buckets)
    t: int = 2                         # meta-embeddings per entity (non-zeros per row of S)
    n_layers: int = 3
    init: str = "metis"                # "metis" | "random" (Table 3 ablation)
    anchor_weight: float = 0.5         # w*; see ANCHOR_WEIGHTS (code: 0.9)
    init_replace: bool = True          # paper: other t-1 ids drawn with replacement (code: without)
    update_assignment: bool = True     # False: Table 3 "assignment update off"
    pretrain_epochs: int | None = None  # P epochs with S fixed; None: half of the run
    update_every: int = 1              # m (the paper's q in Sec. 4.4)
    select_after_update: bool = True   # only stage-2 states are selectable when updates are on
    reg: float = 5e-4                  # lambda on sum ||ego||^2 / B
    clamp_negative: bool = True        # paper: S >= 0
    adj_block: str = "raw"             # paper: 0/1 A inside A'; code: "normalized"
    meta_init: str = "xavier"          # paper: Xavier; code: "normal" (N(0, 1))
    meta_init_gain: float = 1.0        # scale of the initial codebook: Xavier's gain, or the normal's std
    tanh_compose: bool = False         # code: tanh(S E_meta)
    bias: bool = False                 # code: + b_u + b_i + b_0 in the score
    update_batch_rows: int = 16384     # row block of Eq. 16
    seed: int | None = None            # init draws and METIS; None: torch.initial_seed()
    metis_cache_dir: str | None = None
    backbone: str = "lightgcn"         # Table 4: "lightgcn" | "ngcf" | "lrgccf"
    update_aggregation: str = "concat"  # H the update solves for on NGCF / LR-GCCF: "concat" | "mean" of layers
    backbone_options: dict = field(default_factory=dict)  # the backbone's switches (probes)

    def validate(self, n_nodes: int | None = None) -> None:
        """Raise ValueError for settings that cannot work."""
        if self.dim < 1 or self.n_meta < 1 or self.n_layers < 0:
            raise ValueError(f"need dim >= 1, n_meta >= 1, n_layers >= 0; got {self.dim}, {self.n_meta}, {self.n_layers}")
        if not 1 <= self.t <= self.n_meta:
            raise ValueError(f"t (meta-embeddings per entity) must be in [1, n_meta={self.n_meta}], got {self.t}")
        if self.init not in INIT_METHODS:
            raise ValueError(f"unknown init {self.init!r}; choose one of {INIT_METHODS}")
        if not 0.0 < self.anchor_weight <= 1.0:
            raise ValueError(f"anchor_weight must be in (0, 1], got {self.anchor_weight}")
        if self.update_every < 1:
            raise ValueError(f"update_every must be >= 1, got {self.update_every}")
        if self.pretrain_epochs is not None and self.pretrain_epochs < 0:
            raise ValueError(f"pretrain_epochs must be >= 0 or None, got {self.pretrain_epochs}")
        if self.reg < 0:
            raise ValueError(f"reg must be >= 0, got {self.reg}")
        if self.adj_block not in ADJ_BLOCKS:
            raise ValueError(f"unknown adj_block {self.adj_block!r}; choose one of {ADJ_BLOCKS}")
        if self.meta_init not in META_INITS:
            raise ValueError(f"unknown meta_init {self.meta_init!r}; choose one of {META_INITS}")
        if not self.meta_init_gain > 0:
            raise ValueError(f"meta_init_gain must be > 0 (1.0 is the paper's Xavier), got {self.meta_init_gain}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose one of {BACKBONES}")
        check_backbone_options(self.backbone, self.backbone_options)
        if self.update_aggregation not in UPDATE_AGGREGATIONS:
            raise ValueError(f"unknown update_aggregation {self.update_aggregation!r}; choose one of "
                             f"{UPDATE_AGGREGATIONS}")
        if self.update_batch_rows < 1:
            raise ValueError(f"update_batch_rows must be >= 1, got {self.update_batch_rows}")
        if n_nodes is not None and n_nodes < 1:
            raise ValueError("the dataset has no users or items")


def legcf_head(h: torch.Tensor, ego: torch.Tensor, bias: torch.Tensor | None, n_users: int, users: torch.Tensor,
               pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(BPR, unweighted L2) of a batch: scores h_u . h_i (+ b_i; b_u and b_0 cancel in the difference), and
    the code's L2 form sum ||ego||^2 / B over the composed ego rows of u, i+ and i- (no 1/2)."""
    pi, ni = n_users + pos, n_users + neg
    pos_s = row_dots(h, users, h, pi)
    neg_s = row_dots(h, users, h, ni)
    if bias is not None:
        pos_s = pos_s + bias[pi]
        neg_s = neg_s + bias[ni]
    reg = sum_sq_rows(ego, users, pi, ni) / users.shape[0]
    return bpr_loss(pos_s, neg_s), reg


class LEGCF(RecModel):
    """LEGCF on a dataset ``data`` (anything with ``.train`` (n_users x n_items CSR), ``.n_users``, ``.n_items``).

    ``parts`` optionally supplies the METIS partition (length N) instead of computing it.
    State: parameter ``meta`` [c, d] (+ ``node_bias`` [N], ``global_bias`` with ``bias``); buffers
    ``assign_idx`` [N, t], ``assign_val`` [N, t] (S), ``anchor_init`` [N] (initial anchors, for figures)
    and ``n_updates``. A' is derived from the buffers and rebuilt lazily after updates, ``load_state_dict``
    and moves to another device.
    """

    def __init__(self, data: Any, config: LEGCFConfig | None = None, parts: np.ndarray | None = None):
        super().__init__()
        self._head = legcf_head
        self.config = cfg = config or LEGCFConfig()
        self.n_users, self.n_items = int(data.n_users), int(data.n_items)
        n = self.n_users + self.n_items
        cfg.validate(n)
        train = sp.csr_matrix(data.train)
        seed = cfg.seed if cfg.seed is not None else torch.initial_seed() % 2**32
        if cfg.init == "metis" and parts is None:
            parts = metis_partition(train, self.n_users, self.n_items, cfg.n_meta, seed=seed,
                                    cache_dir=cfg.metis_cache_dir)
        idx, val = init_assignment(parts if cfg.init == "metis" else None, n, cfg.n_meta, cfg.t,
                                   cfg.anchor_weight, seed=seed, method=cfg.init, replace=cfg.init_replace)
        self.register_buffer("assign_idx", torch.from_numpy(idx))
        self.register_buffer("assign_val", torch.from_numpy(val))
        self.register_buffer("anchor_init", torch.from_numpy(idx[:, 0].copy()))
        self.register_buffer("n_updates", torch.zeros((), dtype=torch.long))

        self.meta = nn.Parameter(torch.empty(cfg.n_meta, cfg.dim))
        if cfg.meta_init == "xavier":
            nn.init.xavier_uniform_(self.meta, gain=cfg.meta_init_gain)
        else:
            nn.init.normal_(self.meta, std=cfg.meta_init_gain)
        if cfg.bias:
            self.node_bias = nn.Parameter(torch.randn(n))  # torch.nn.Embedding's N(0, 1), as torchfm's
            self.global_bias = nn.Parameter(torch.zeros(()))
        self.backbone = make_backbone(cfg.backbone, cfg.dim, cfg.n_layers,  # LightGCN's has no weights
                                      **cfg.backbone_options)

        coo = sp.coo_matrix(train)
        block = bipartite_adjacency(coo.row, coo.col, self.n_users, self.n_items)
        self._entity_block = normalize_symmetric(block) if cfg.adj_block == "normalized" else block
        self._graph: torch.Tensor | None = None
        self._n_epochs: int | None = None

    # ------------------------------------------------------------------------------ graph and layers
    def _load_from_state_dict(self, *args, **kwargs):  # type: ignore[override]
        super()._load_from_state_dict(*args, **kwargs)
        self._graph = None  # S may have changed: rebuild A' on next use

    def expanded_graph(self) -> torch.Tensor:
        """D^{-1/2} A' D^{-1/2} for the current S (Eqs. 5, 7), cached until S or the device changes."""
        if self._graph is None or self._graph.device != self.meta.device:
            self._graph = expanded_adjacency(self._entity_block, self.assign_idx, self.assign_val,
                                             self.config.n_meta, device=self.meta.device,
                                             self_loops=self.backbone.self_loops)
        return self._graph

    def _ego(self) -> torch.Tensor:
        """E_hat = S E_meta (Eq. 1; tanh of it with ``tanh_compose``): [N, d]."""
        e = (self.assign_val.unsqueeze(-1) * self.meta[self.assign_idx]).sum(1)
        return torch.tanh(e) if self.config.tanh_compose else e

    def _propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(ego E_hat [N, d], H [N + c, d']) with H the backbone's representation over the expanded graph
        (Eqs. 6-8: LightGCN's layer mean, d' = d; NGCF / LR-GCCF: their layer concatenation)."""
        ego = self._ego()
        return ego, self.backbone(self.expanded_graph(), torch.cat([ego, self.meta]))

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        _, h = self._propagate()
        n = self.n_users + self.n_items
        return h[: self.n_users], h[self.n_users:n]

    # ------------------------------------------------------------------------------ loss and scores
    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        ego, h = self._propagate()
        bias = self.node_bias if self.config.bias else None
        bpr, reg = self._head(h, ego, bias, self.n_users, users, pos, neg)
        return {"bpr": bpr, "reg": self.config.reg * reg}

    def compile_loss(self) -> None:
        """Compile the per-triple part of the loss (gathers, scores, softplus, L2; see qlib.compiling)."""
        self._head = maybe_compile(legcf_head)

    @torch.no_grad()
    def scorer(self) -> Callable[[torch.Tensor], torch.Tensor]:
        if not self.config.bias:
            return super().scorer()
        with eval_mode(self):
            users, items = self.forward()
        items_t = items.t().contiguous()
        item_b = self.node_bias[self.n_users:] + self.global_bias
        user_b = self.node_bias[: self.n_users]

        def score(u: torch.Tensor) -> torch.Tensor:
            u = u.to(users.device)
            return users[u] @ items_t + item_b + user_b[u].unsqueeze(1)

        return score

    # ------------------------------------------------------------------------------ schedule
    def pretrain_epochs(self, n_epochs: int | None = None) -> int | None:
        """P: configured, else half of ``n_epochs`` (the run length seen by ``on_epoch_start``)."""
        if self.config.pretrain_epochs is not None:
            return self.config.pretrain_epochs
        n_epochs = n_epochs if n_epochs is not None else self._n_epochs
        return None if n_epochs is None else n_epochs // 2

    def on_epoch_start(self, epoch: int, n_epochs: int) -> None:
        """Algorithm 1: after P pre-training epochs, update S every m epochs (before the epoch's batches)."""
        self._n_epochs = n_epochs
        cfg = self.config
        p = self.pretrain_epochs(n_epochs)
        if cfg.update_assignment and epoch >= p and (epoch - p) % cfg.update_every == 0:
            self.reassign()

    @torch.no_grad()
    def update_representation(self) -> torch.Tensor:
        """H [N + c, d'] the assignment update solves for: the backbone's representation with dropout off,
        its L + 1 layer blocks averaged to d wide under ``update_aggregation="mean"``."""
        with eval_mode(self):   # no message dropout in the representations the update solves for
            _, h = self._propagate()
        if self.config.update_aggregation == "mean" and h.shape[1] != self.config.dim:
            h = h.reshape(h.shape[0], -1, self.config.dim).mean(1)
        return h

    @torch.no_grad()
    def reassign(self) -> None:
        """One assignment update from the current propagated H_full, H_meta (Eqs. 14-16), then A' anew."""
        h = self.update_representation()
        n = self.n_users + self.n_items
        idx, val = update_assignment(h[:n], h[n:], self.config.t, self.config.update_batch_rows)
        if self.config.clamp_negative:
            val = val.clamp_min(0.0)
        self.assign_idx.copy_(idx)
        self.assign_val.copy_(val)
        self.n_updates += 1
        self._graph = None

    @property
    def selectable(self) -> bool:
        cfg = self.config
        return not (cfg.update_assignment and cfg.select_after_update) or int(self.n_updates) > 0

    # ------------------------------------------------------------------------------ size
    def num_params(self, include_bias: bool = False) -> int:
        """The paper's #Param (Table 2): codebook c d plus the non-zeros of S (+ N + 1 biases if asked)."""
        n = self.config.n_meta * self.config.dim + int((self.assign_val != 0).sum())
        if include_bias and self.config.bias:
            n += self.node_bias.numel() + 1
        return n

    def storage_bits(self) -> int:
        """fp32 codebook + S stored as (fp32 weight, ceil(log2 c)-bit id) pairs + fp32 biases when on + fp32
        backbone weights (NGCF, LR-GCCF)."""
        cfg = self.config
        id_bits = max(1, math.ceil(math.log2(cfg.n_meta)))
        bits = 32 * (cfg.n_meta * cfg.dim + self.backbone.num_params()) + self.assign_idx.numel() * (32 + id_bits)
        if cfg.bias:
            bits += 32 * (self.node_bias.numel() + 1)
        return bits

    # ------------------------------------------------------------------------------ accessors (figures)
    @torch.no_grad()
    def meta_embeddings(self) -> np.ndarray:
        """E_meta [c, d]."""
        return self.meta.detach().cpu().numpy().copy()

    @torch.no_grad()
    def entity_embeddings(self) -> np.ndarray:
        """Composed layer-0 embeddings E_hat = S E_meta [N, d] (tanh'ed with ``tanh_compose``)."""
        return self._ego().cpu().numpy()

    def assignment(self) -> tuple[np.ndarray, np.ndarray]:
        """S as (indices [N, t] int64, values [N, t] float32); column 0 is the anchor / largest weight."""
        return self.assign_idx.cpu().numpy().copy(), self.assign_val.cpu().numpy().copy()

    def assignment_sparse(self) -> sp.csr_matrix:
        """S as a scipy (N x c) CSR matrix."""
        return assignment_matrix(self.assign_idx, self.assign_val, self.config.n_meta)

    def initial_anchors(self) -> np.ndarray:
        """Each entity's anchor meta-embedding at initialisation (Fig. 2 colours entities by it)."""
        return self.anchor_init.cpu().numpy().copy()


def legcf_factory(config: LEGCFConfig | None = None) -> Callable[[Any, torch.Tensor], LEGCF]:
    """``(data, adj) -> LEGCF`` for the experiment runner. ``adj`` (LightGCN's normalised adjacency) only
    fixes the device and is checked for size: A' is built from ``data.train`` (it needs the raw graph)."""

    def make(data: Any, adj: torch.Tensor) -> LEGCF:
        n = int(data.n_users) + int(data.n_items)
        if adj.shape[0] != n:
            raise ValueError(f"adjacency has {adj.shape[0]} nodes, expected n_users + n_items = {n}")
        return LEGCF(data, config).to(adj.device)

    return make
