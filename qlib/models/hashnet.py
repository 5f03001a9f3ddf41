"""HashNet (Cao et al., "HashNet: Deep Learning to Hash by Continuation", ICCV 2017), adapted to graph CF
as in L2Q-GCN's Table 2 ("replacing the used AlexNet with the general graph convolutional network").

Encoder: LightGCN (ego embeddings propagated over the normalised graph, layers averaged; L = 2). Hash
layer: a fully connected layer to d bits followed by tanh(beta * x). Continuation: beta grows during
training, so tanh(beta x) tends to sign(x); at evaluation the codes are sign(x) in {-1, +1}^d and items are
ranked by code inner products (equivalently by Hamming distance).

Specified (HashNet paper): the fully connected hash layer, the tanh(beta x) relaxation, the continuation
in beta, sign codes at test time. Reconstructed here:
- the schedule: beta(epoch) = beta_init * (1 + gamma * epoch) ** power, the form of the authors' PyTorch
  release (there per iteration with gamma = 0.005, power = 0.5); here per epoch with gamma = 0.1 by
  default, so beta = 10 after 1000 epochs. It is a pure function of the epoch (resumable runs), kept in
  a buffer so that the selected state carries its beta;
- the loss: HashNet's weighted pairwise cross-entropy is replaced by BPR on the relaxed codes (the
  pairwise loss of this book's trainer, as the L2Q-GCN comparison does for every model) plus LightGCN's L2
  term on the batch's ego rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..propagation import combine_layers, propagate
from ..quantizers import sign_ste
from .lightgcn import EgoBPRModel

__all__ = ["HashNetConfig", "HashNet", "continuation_beta"]


def continuation_beta(epoch: int, beta_init: float, gamma: float, power: float) -> float:
    """beta_init * (1 + gamma * epoch) ** power: non-decreasing in the epoch for gamma, power >= 0."""
    return beta_init * (1.0 + gamma * epoch) ** power


@dataclass
class HashNetConfig:
    """Defaults: LightGCN encoder with L = 2 and d = 64, 64-bit codes, lambda = 1e-4."""

    emb_dim: int = 64
    code_dim: int = 64
    n_layers: int = 2
    reg: float = 1e-4
    init_std: float = 0.1
    beta_init: float = 1.0
    beta_gamma: float = 0.1     # per epoch
    beta_power: float = 0.5

    def validate(self) -> "HashNetConfig":
        if self.emb_dim < 1 or self.code_dim < 1:
            raise ValueError(f"emb_dim and code_dim must be >= 1, got {self.emb_dim}, {self.code_dim}")
        if self.n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, got {self.n_layers}")
        if self.beta_init <= 0 or self.beta_gamma < 0 or self.beta_power < 0:
            raise ValueError("the continuation needs beta_init > 0, beta_gamma >= 0 and beta_power >= 0")
        if self.reg < 0:
            raise ValueError(f"reg must be >= 0, got {self.reg}")
        return self


class HashNet(EgoBPRModel):
    def __init__(self, adj: torch.Tensor, n_users: int, n_items: int, config: HashNetConfig | None = None):
        super().__init__()
        self.config = cfg = (config or HashNetConfig()).validate()
        if adj.shape[0] != n_users + n_items:
            raise ValueError(f"adjacency has {adj.shape[0]} nodes, expected n_users + n_items = {n_users + n_items}")
        self.adj = adj
        self.n_users, self.n_items = n_users, n_items
        self.embedding = nn.Parameter(torch.randn(n_users + n_items, cfg.emb_dim) * cfg.init_std)
        self.hash_layer = nn.Linear(cfg.emb_dim, cfg.code_dim)
        nn.init.xavier_uniform_(self.hash_layer.weight)
        nn.init.zeros_(self.hash_layer.bias)
        self.register_buffer("beta", torch.tensor(cfg.beta_init))

    def on_epoch_start(self, epoch: int, n_epochs: int) -> None:
        cfg = self.config
        self.beta.fill_(continuation_beta(epoch, cfg.beta_init, cfg.beta_gamma, cfg.beta_power))

    def hash_inputs(self) -> torch.Tensor:
        """x = FC(LightGCN output) for every node, [N, d] (the input of tanh / sign)."""
        layers = propagate(self.adj, self.embedding, self.config.n_layers)
        return self.hash_layer(combine_layers(layers, "mean"))

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Training: tanh(beta x). Evaluation: sign(x) in {-1, +1}."""
        x = self.hash_inputs()
        rep = torch.tanh(self.beta * x) if self.training else sign_ste(x)
        return rep[: self.n_users], rep[self.n_users:]

    def storage_bits(self) -> int:
        """N d bits: one sign code per node is all that ranking reads."""
        return (self.n_users + self.n_items) * self.config.code_dim
