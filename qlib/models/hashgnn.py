"""HashGNN (Tan et al., "Learning to Hash with Graph Neural Networks for Recommender Systems", WWW 2020),
hard and soft variants of L2Q-GCN's Table 2.

Model (paper + the authors' TensorFlow release ``qiaoyu-tan/HashGNN``, read for these notes):
- encoder: id embeddings and a two-layer GraphSAGE with the mean aggregator,
  h(k) = LeakyReLU([h(k-1) | mean_{j in N(v)} h(k-1)_j] W(k)); a user tower and an item tower with their own
  weights (each tower applies its weights to every node of its computation tree, as the release does);
- hash layer: z = tanh(h W_p + b_p) (separate user / item projections), code b = sign(z) with the identity
  (straight-through) gradient;
- "STE with guidance": in training every row (node of the batch) uses its code b with probability beta and
  its continuous z otherwise; the user and its positive item share one draw, the negative has its own
  (the release's selector); beta follows an epoch-wise schedule from continuous (0) towards codes (1);
- loss: lambda * sigmoid cross-entropy link reconstruction (observed pair label 1, sampled pair label 0,
  averaged over all pairs) + BPR, both on the guided representations; lambda = 0.1.

Deviations and reconstructions:
- full-neighbour mean aggregation over the training graph instead of sampled neighbours (fan-out 10, 5),
  and both towers two layers deep (the release samples one hop for items; the L2Q-GCN paper describes
  "two-layer GraphSage"); the id embedding feeds the first layer directly (the release passes it through a
  dense "wide & deep" encoder);
- the negatives are the shared sampler's (one per triple by default; the release draws 10 per positive);
- beta(epoch) = min(beta_max, beta_step * (epoch // beta_every)), with the release's 0.02 every 2 epochs;
  the release's list ends after 1.0 and then falls back to 0, here beta stays at beta_max;
- an optional L2 term (default 0: the release has no weight decay).

Variants (the hard one is specified, the soft one reconstructed):
- ``variant="hard"`` (HashGNN in Table 2): items are ranked by inner products of the codes only;
  storage N d bits.
- ``variant="soft"`` (HashGNN-soft): the L2Q-GCN paper describes it as "a Bernoulli random variable to
  provide the probability of replacing the quantized digits with continuous values in the original
  embeddings", and reports its embedding size as that of the full-precision table (Fig. 5: 34.13 MB
  against LightGCN's 34.04 MB). Reconstructed as ``soft_eval="bernoulli"`` (default): at evaluation each
  node keeps its code with probability p (``soft_code_prob``, or the current beta when None) and its
  continuous z otherwise, the draw fixed by ``soft_seed`` so evaluations are deterministic; storage counts
  d bits per code row, 32 d bits per continuous row and 1 selector bit per node.
  ``soft_eval="rerank"`` is the other reading (methods notes 6.3 and the release's evaluation script): the
  top ``rerank_k`` items by code inner product are re-ranked by continuous inner product (above all other
  items); storage: codes plus the fp32 table, 33 d bits per node.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..graph import sym_spmm
from ..quantizers import sign_ste
from .base import RecModel, bpr_loss, eval_mode, l2_reg

__all__ = ["HashGNNConfig", "HashGNN", "guidance_beta", "binary_adjacency"]

VARIANTS = ("hard", "soft")
SOFT_EVALS = ("bernoulli", "rerank")


def guidance_beta(epoch: int, step: float, every: int, beta_max: float) -> float:
    """Probability of using the code in training: min(beta_max, step * (epoch // every))."""
    return min(beta_max, step * (epoch // every))


def binary_adjacency(adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, degree) from any CSR matrix with A's sparsity pattern (e.g. the normalised adjacency):
    A holds ones where ``adj`` has an entry, degree[i] = entries of row i (float, [N, 1])."""
    adj = adj.to_sparse_csr() if adj.layout != torch.sparse_csr else adj
    crow, col = adj.crow_indices(), adj.col_indices()
    ones = torch.ones(col.shape[0], dtype=torch.float32, device=col.device)
    a = torch.sparse_csr_tensor(crow, col, ones, size=adj.shape, check_invariants=False)
    deg = (crow[1:] - crow[:-1]).to(torch.float32).unsqueeze(1)
    return a, deg


@dataclass
class HashGNNConfig:
    """Defaults: the release's lambda = 0.1, LeakyReLU, 0.02 / 2 epochs guidance; widths 64, 64-bit codes."""

    variant: str = "hard"              # "hard" (codes only) or "soft"
    emb_dim: int = 64                  # id embedding width
    hidden_dim: int = 64               # GraphSAGE layer width
    code_dim: int = 64                 # bits per node
    n_layers: int = 2
    rec_weight: float = 0.1            # lambda on the link-reconstruction cross-entropy
    reg: float = 0.0
    init_std: float = 0.1
    leaky_slope: float = 0.2           # tf.nn.leaky_relu's default
    beta_step: float = 0.02
    beta_every: int = 2
    beta_max: float = 1.0
    soft_eval: str = "bernoulli"       # soft variant only: "bernoulli" or "rerank"
    soft_code_prob: float | None = None  # "bernoulli": P(code) at evaluation; None = the current beta
    soft_seed: int = 0
    rerank_k: int = 500                # "rerank": candidates taken by code (the release's k = 500)

    def validate(self) -> "HashGNNConfig":
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown HashGNN variant {self.variant!r}; use one of {VARIANTS}")
        if self.soft_eval not in SOFT_EVALS:
            raise ValueError(f"unknown soft_eval {self.soft_eval!r}; use one of {SOFT_EVALS}")
        if min(self.emb_dim, self.hidden_dim, self.code_dim, self.n_layers) < 1:
            raise ValueError("emb_dim, hidden_dim, code_dim and n_layers must be >= 1")
        if self.beta_step < 0 or self.beta_every < 1 or not 0 <= self.beta_max <= 1:
            raise ValueError("guidance needs beta_step >= 0, beta_every >= 1 and 0 <= beta_max <= 1")
        if self.soft_code_prob is not None and not 0 <= self.soft_code_prob <= 1:
            raise ValueError(f"soft_code_prob must be in [0, 1], got {self.soft_code_prob}")
        if self.rec_weight < 0 or self.reg < 0 or self.rerank_k < 1:
            raise ValueError("rec_weight and reg must be >= 0, rerank_k >= 1")
        return self


class SageTower(nn.Module):
    """GraphSAGE-mean layers over the whole graph: h <- LeakyReLU([h | mean_N(h)] W), no bias."""

    def __init__(self, dims: list[int], slope: float):
        super().__init__()
        self.weights = nn.ParameterList(
            nn.Parameter(nn.init.xavier_uniform_(torch.empty(2 * a, b))) for a, b in zip(dims[:-1], dims[1:]))
        self.slope = slope

    def forward(self, a: torch.Tensor, deg: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        for w in self.weights:
            mean = sym_spmm(a, h) / deg.clamp(min=1.0)
            h = nn.functional.leaky_relu(torch.cat([h, mean], dim=1) @ w, self.slope)
        return h


class HashGNN(RecModel):
    def __init__(self, adj: torch.Tensor, n_users: int, n_items: int, config: HashGNNConfig | None = None):
        super().__init__()
        self.config = cfg = (config or HashGNNConfig()).validate()
        n = n_users + n_items
        if adj.shape[0] != n:
            raise ValueError(f"adjacency has {adj.shape[0]} nodes, expected n_users + n_items = {n}")
        self.n_users, self.n_items = n_users, n_items
        self.adj_bin, self.deg = binary_adjacency(adj)
        self.embedding = nn.Parameter(torch.randn(n, cfg.emb_dim) * cfg.init_std)
        dims = [cfg.emb_dim] + [cfg.hidden_dim] * cfg.n_layers
        self.user_tower = SageTower(dims, cfg.leaky_slope)
        self.item_tower = SageTower(dims, cfg.leaky_slope)
        self.user_proj = nn.Linear(cfg.hidden_dim, cfg.code_dim)
        self.item_proj = nn.Linear(cfg.hidden_dim, cfg.code_dim)
        for lin in (self.user_proj, self.item_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)
        self.register_buffer("beta", torch.tensor(guidance_beta(0, cfg.beta_step, cfg.beta_every, cfg.beta_max)))

    def on_epoch_start(self, epoch: int, n_epochs: int) -> None:
        cfg = self.config
        self.beta.fill_(guidance_beta(epoch, cfg.beta_step, cfg.beta_every, cfg.beta_max))

    def continuous(self) -> tuple[torch.Tensor, torch.Tensor]:
        """z = tanh(projection of the tower output): ([n_users, d], [n_items, d]) in (-1, 1)."""
        hu = self.user_tower(self.adj_bin, self.deg, self.embedding)[: self.n_users]
        hi = self.item_tower(self.adj_bin, self.deg, self.embedding)[self.n_users:]
        return torch.tanh(self.user_proj(hu)), torch.tanh(self.item_proj(hi))

    @staticmethod
    def code(z: torch.Tensor) -> torch.Tensor:
        """sign(z) in {-1, +1} with the identity gradient (|z| < 1 after tanh, so nothing is clipped)."""
        return sign_ste(z, clip=1.0)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The codes (hard variant and training-free inspection); the soft variant ranks via ``scorer``."""
        zu, zi = self.continuous()
        return self.code(zu), self.code(zi)

    def _guided(self, z: torch.Tensor, use_code: torch.Tensor) -> torch.Tensor:
        return torch.where(use_code[:, None], self.code(z), z)

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        zu, zi = self.continuous()
        b = users.shape[0]
        shared = torch.rand(b, device=zu.device) < self.beta       # one draw for the user and its positive
        own = torch.rand(b, device=zu.device) < self.beta          # the negative's own draw
        u, p, n = self._guided(zu[users], shared), self._guided(zi[pos], shared), self._guided(zi[neg], own)
        s_pos, s_neg = (u * p).sum(1), (u * n).sum(1)
        softplus = nn.functional.softplus
        rec = 0.5 * (softplus(-s_pos).mean() + softplus(s_neg).mean())
        parts = {"rec": self.config.rec_weight * rec, "bpr": bpr_loss(s_pos, s_neg)}
        if self.config.reg > 0:
            nu = self.n_users
            parts["reg"] = self.config.reg * l2_reg(self.embedding[users], self.embedding[nu + pos],
                                                    self.embedding[nu + neg])
        return parts

    def _soft_mask(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-node 'use the code' flags of the soft variant's evaluation (fixed by soft_seed)."""
        p = self.config.soft_code_prob if self.config.soft_code_prob is not None else float(self.beta)
        gen = torch.Generator().manual_seed(self.config.soft_seed)
        keep = torch.rand(self.n_users + self.n_items, generator=gen) < p
        keep = keep.to(self.embedding.device)
        return keep[: self.n_users], keep[self.n_users:]

    @torch.no_grad()
    def scorer(self) -> Callable[[torch.Tensor], torch.Tensor]:
        cfg = self.config
        with eval_mode(self):
            zu, zi = self.continuous()
        cu, ci = self.code(zu), self.code(zi)
        if cfg.variant == "hard":
            ci_t = ci.t().contiguous()
            return lambda u: cu[u.to(cu.device)] @ ci_t
        if cfg.soft_eval == "bernoulli":
            mu, mi = self._soft_mask()
            ru, ri_t = torch.where(mu[:, None], cu, zu), torch.where(mi[:, None], ci, zi).t().contiguous()
            return lambda u: ru[u.to(ru.device)] @ ri_t
        ci_t = ci.t().contiguous()
        k = min(cfg.rerank_k, self.n_items)
        offset = 2.0 * cfg.code_dim + 1.0  # |code score|, |continuous score| <= d: candidates always on top

        def rerank(u: torch.Tensor) -> torch.Tensor:
            u = u.to(cu.device)
            code_scores = cu[u] @ ci_t
            cand = torch.topk(code_scores, k, dim=1).indices
            cont = (zu[u][:, None, :] * zi[cand]).sum(-1)
            return code_scores.scatter(1, cand, cont + offset)

        return rerank

    def storage_bits(self) -> int:
        """Hard: N d bits. Soft: see the module docstring (bernoulli: per-row code or fp32 plus a selector
        bit; rerank: codes plus the fp32 table)."""
        cfg, n = self.config, self.n_users + self.n_items
        if cfg.variant == "hard":
            return n * cfg.code_dim
        if cfg.soft_eval == "rerank":
            return n * cfg.code_dim * 33
        mu, mi = self._soft_mask()
        n_code = int(mu.sum() + mi.sum())
        return n_code * cfg.code_dim + (n - n_code) * 32 * cfg.code_dim + n
