"""NeuMF (He et al., "Neural Collaborative Filtering", WWW 2017; "NeurCF" in L2Q-GCN's Table 2).

Two towers over separate user/item embeddings (NCF Eqs. 9-12):

    GMF:  phi_G = p_u^G * q_i^G                                  (element-wise product)
    MLP:  phi_M = ReLU(... ReLU(W_1^T [p_u^M | q_i^M] + b_1) ...)
    y(u, i) = h^T [phi_G | phi_M]                                 (sigmoid(y) is the predicted probability)

Loss. NCF's own objective is the pointwise log loss on observed pairs (label 1) and sampled unobserved
pairs (label 0). Here the pairs come from the shared triple sampler: each (u, pos, neg) row contributes
-log sigmoid(y(u, pos)) - log sigmoid(-y(u, neg)) (``loss="bce"``, the default, because it is the model's
own objective and gives its output layer the probability meaning it was designed for; NCF's four negatives
per positive are ``TrainConfig(sampler="legcf", n_neg=4)``). ``loss="bpr"`` switches to BPR on the same
scores, the objective every other model in this book uses. An optional L2 term (default 0, as NCF's
release) covers the batch's embedding rows.

Choices (not from the L2Q-GCN paper, which only says the baselines follow their papers' settings): the
embedding widths are set for comparison at d = 64 (GMF 64, MLP tower 128 -> 64 -> 32 from concatenated
64 + 64 embeddings); NCF's own defaults are GMF 8 and MLP layers (64, 32, 16, 8). Initialisation N(0, 0.01^2)
for the embeddings (as NCF's release) and Xavier for the dense layers; no pre-training of the towers (NCF
optionally pre-trains GMF and MLP separately).

``forward()`` returns the embedding tables ([GMF | MLP] per user and per item); they are not inner-product
representations, so ranking goes through :meth:`NeuMF.scorer`, which scores all items for a batch of users
in [user block, item block] tiles sized to a memory budget.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .base import RecModel, bpr_loss, eval_mode, l2_reg

__all__ = ["NeuMFConfig", "NeuMF", "NeurCF"]

LOSSES = ("bce", "bpr")
#: most items per scoring tile (the user side of a tile fills the rest of ``NeuMFConfig.score_budget``)
ITEM_TILE = 512


@dataclass
class NeuMFConfig:
    """Defaults sized for d = 64 comparisons (NCF's own: gmf_dim 8, mlp_dims (64, 32, 16, 8))."""

    gmf_dim: int = 64
    mlp_dims: tuple[int, ...] = (128, 64, 32)   # mlp_dims[0] = width of [p_u^M | q_i^M]; then the hidden layers
    loss: str = "bce"                            # "bce" (NCF's pointwise log loss) or "bpr"
    reg: float = 0.0
    init_std: float = 0.01
    score_budget: int = 2 ** 20                  # max elements of the [users, items, hidden] block in scorer():
    # a 4 MiB block; fastest or near it at one and two threads (smaller blocks win on one thread and lose
    # badly on two): bench/neurcf_scoring.py, record results/bench/neurcf_scoring_gowalla.json

    def validate(self) -> "NeuMFConfig":
        if self.gmf_dim < 1:
            raise ValueError(f"gmf_dim must be >= 1, got {self.gmf_dim}")
        if len(self.mlp_dims) < 2 or any(d < 1 for d in self.mlp_dims):
            raise ValueError(f"mlp_dims needs >= 2 positive widths (input, hidden...), got {self.mlp_dims}")
        if self.mlp_dims[0] % 2:
            raise ValueError(f"mlp_dims[0] is the concatenated user|item width and must be even, got {self.mlp_dims[0]}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; use one of {LOSSES}")
        if self.reg < 0 or self.init_std <= 0 or self.score_budget < 1:
            raise ValueError("reg must be >= 0, init_std > 0 and score_budget >= 1")
        return self


class NeuMF(RecModel):
    def __init__(self, n_users: int, n_items: int, config: NeuMFConfig | None = None):
        super().__init__()
        self.config = cfg = (config or NeuMFConfig()).validate()
        self.n_users, self.n_items = n_users, n_items
        half = cfg.mlp_dims[0] // 2
        self.user_gmf = nn.Parameter(torch.randn(n_users, cfg.gmf_dim) * cfg.init_std)
        self.item_gmf = nn.Parameter(torch.randn(n_items, cfg.gmf_dim) * cfg.init_std)
        self.user_mlp = nn.Parameter(torch.randn(n_users, half) * cfg.init_std)
        self.item_mlp = nn.Parameter(torch.randn(n_items, half) * cfg.init_std)
        self.mlp = nn.ModuleList(nn.Linear(a, b) for a, b in zip(cfg.mlp_dims[:-1], cfg.mlp_dims[1:]))
        self.out = nn.Linear(cfg.gmf_dim + cfg.mlp_dims[-1], 1)
        for lin in [*self.mlp, self.out]:
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The embedding tables [GMF | MLP] (not inner-product representations; rank with ``scorer``)."""
        return torch.cat([self.user_gmf, self.user_mlp], 1), torch.cat([self.item_gmf, self.item_mlp], 1)

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits y(u, i) of aligned (user, item) pairs."""
        gmf = self.user_gmf[users] * self.item_gmf[items]
        h = torch.cat([self.user_mlp[users], self.item_mlp[items]], dim=1)
        for lin in self.mlp:
            h = torch.relu(lin(h))
        return self.out(torch.cat([gmf, h], dim=1)).squeeze(1)

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        sp, sn = self.score(users, pos), self.score(users, neg)
        if self.config.loss == "bce":
            softplus = nn.functional.softplus
            parts = {"bce": (softplus(-sp) + softplus(sn)).mean()}
        else:
            parts = {"bpr": bpr_loss(sp, sn)}
        if self.config.reg > 0:
            ego = [torch.cat([self.user_gmf[users], self.user_mlp[users]], 1)]
            ego += [torch.cat([self.item_gmf[i], self.item_mlp[i]], 1) for i in (pos, neg)]
            parts["reg"] = self.config.reg * l2_reg(*ego)
        return parts

    @torch.no_grad()
    def scorer(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """users -> [b, n_items] logits. The first MLP layer splits into a user and an item part
        (W_1^T [p | q] = W_u^T p + W_i^T q), computed once; the rest runs on tiles of at most
        :data:`ITEM_TILE` items and as many users as keep the [users, items, width] block under
        ``config.score_budget`` elements (a block that fits in cache; the tile count does not depend on the
        size of the user batch, so Python's loop overhead stays small). Each tile reuses one buffer, with
        fused bias-matmuls (``addmm``) and in-place ReLUs, so no tile allocates blocks of its own."""
        with eval_mode(self):
            first = self.mlp[0]
            half = self.user_mlp.shape[1]
            w_user, w_item = first.weight[:, :half], first.weight[:, half:]
            item_part = (self.item_mlp @ w_item.t() + first.bias).detach()      # [n_items, h1]
            user_part = (self.user_mlp @ w_user.t()).detach()                    # [n_users, h1]
            h_gmf = self.out.weight[0, : self.config.gmf_dim]
            h_mlp = self.out.weight[0, self.config.gmf_dim:].detach()
            item_gmf_t = (self.item_gmf * h_gmf).t().contiguous()                # GMF term = p_u diag(h) q_i^T
            rest = [(lin.bias.detach(), lin.weight.detach().t().contiguous()) for lin in self.mlp[1:]]
            width = max(self.config.mlp_dims[1:])
            bias = self.out.bias.detach()
        h1 = item_part.shape[1]
        pairs = max(1, self.config.score_budget // width)
        chunk = min(self.n_items, ITEM_TILE, pairs)
        ub = max(1, pairs // chunk)

        @torch.no_grad()
        def score(u: torch.Tensor) -> torch.Tensor:
            u = u.to(self.user_gmf.device)
            out = self.user_gmf[u] @ item_gmf_t + bias                       # [b, n_items]
            up = user_part[u][:, None, :]                                    # [b, 1, h1]
            buf = item_part.new_empty(min(ub, len(u)) * chunk * h1)
            for us in range(0, len(u), ub):
                nu = min(ub, len(u) - us)
                for start in range(0, self.n_items, chunk):
                    nc = min(chunk, self.n_items - start)
                    h = buf[: nu * nc * h1].view(nu, nc, h1)
                    torch.add(up[us:us + nu], item_part[None, start:start + nc], out=h).relu_()
                    x = h.view(nu * nc, h1)
                    for b, w_t in rest:
                        x = torch.addmm(b, x, w_t).relu_()
                    out[us:us + nu, start:start + nc] += (x @ h_mlp).view(nu, nc)
            return out

        return score

    def storage_bits(self) -> int:
        """fp32 of every parameter: scoring needs both embedding tables and the towers' weights."""
        return 32 * sum(p.numel() for p in self.parameters())


NeurCF = NeuMF  # the name used in L2Q-GCN's Table 2
