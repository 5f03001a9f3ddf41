"""Parameter-budget embedding tables: the baselines of LEGCF's Table 2 (Liang et al., SIGIR'24) as pluggable
producers of the LightGCN ego table.

Every table is an ``nn.Module`` whose ``forward()`` returns the ego embeddings ``[n, dim]`` of all ``n``
entities of the joint id space (users first, then items, as in :mod:`qlib.graph`), and whose
``num_params()`` counts what LEGCF's "#Param" column counts: the floats (non-zeros for pruned tables) of
the stored embedding layer. ``extra_bits()`` gives the non-float bits the table must also store (PEP's
sparse indices, DHE's hash coefficients); :class:`qlib.models.table_lightgcn.TableLightGCN` adds them to
``32 * num_params()`` in ``storage_bits()``.

Tables (specified = taken from the cited paper or code; reconstructed = our choice, stated where made):

- :class:`FullTable` - the unified-dimension (UD) table, ``n * dim`` floats.
- :class:`QRTable` - quotient-remainder compositional embedding (Shi et al., KDD'20) in the convention of
  the LEGCF authors' CERP code (``CERP/models/com_embedding.py``, methods.md 6.7): two tables of
  ``buckets`` rows, remainder index ``id mod buckets``, quotient index ``id // ceil(n / buckets)``,
  combined by sum (or element-wise product, as DLRM's default, or concat).
- :class:`PEPTable` - PEP (Liu et al., ICLR'21; code ``ssui-liu/learnable-embed-sizes-for-RecSys``,
  ``models/pep_embedding.py``): ``sign(V) * relu(|V| - sigmoid(s))`` with learnable thresholds ``s``,
  then the lottery-ticket retrain from the original initialisation under the frozen mask.
- :class:`DHETable` - Deep Hash Embedding (Kang et al., KDD'21): ``k`` universal hash functions give a
  dense real-valued encoding of each id, an MLP decodes it; there is no embedding table.
- :class:`TTTable` - tensor-train factorised table (TT-Rec, Yin et al., MLSys'21; "NimbleTT" in LEGCF).

:func:`legcf_budget` is the budget LEGCF sets for the variable-size baselines (Sec. 4.1.4: the parameter
count of LEGCF with c = 500 meta-embeddings, i.e. ``c * d + t * N`` for the codebook and the ``t = 2``
non-zeros per row of the assignment matrix - 0.21m on Gowalla, matching Table 2) and
:func:`table_for_budget` sizes any table so that ``num_params() <= n_params``.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from itertools import pairwise
from itertools import product as _iproduct
from types import MappingProxyType

import torch
from torch import nn

__all__ = [
    "TABLE_KINDS",
    "DHETable",
    "EmbeddingTable",
    "FullTable",
    "PEPTable",
    "QRTable",
    "TTTable",
    "balanced_factors",
    "dim_factors",
    "legcf_budget",
    "make_table",
    "table_for_budget",
]


def _check_positive(**values: int) -> None:
    for name, v in values.items():
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


class EmbeddingTable(nn.Module):
    """Base class: ``forward() -> [n, dim]`` ego embeddings of all entities.

    Subclasses implement ``forward`` and ``num_params``; the hooks below default to a plain table that is
    always selectable and has no schedule.
    """

    def __init__(self, n: int, dim: int):
        super().__init__()
        _check_positive(n=n, dim=dim)
        self.n, self.dim = n, dim

    def num_params(self) -> int:  # pragma: no cover - abstract
        """Stored floats (non-zeros for pruned tables), counted as LEGCF's "#Param"."""
        raise NotImplementedError

    def extra_bits(self) -> int:
        """Bits stored besides the ``num_params()`` floats (indices, hash coefficients); 0 by default."""
        return 0

    def on_epoch_start(self, epoch: int, n_epochs: int) -> None:
        """Schedule hook, called by the model's ``on_epoch_start`` (PEP's stage switch); no-op by default."""

    @property
    def selectable(self) -> bool:
        """Whether the table is in its final form (PEP: only after the mask is frozen)."""
        return True

    def regularizer(self) -> torch.Tensor | None:
        """A loss term on the table's own parameters, added by the model as ``table_reg`` (PEP's threshold
        decay); None when the table has none."""
        return None

    def state_facts(self) -> dict:
        """Facts of the table's state for the run's record (PEP: its stage); none by default."""
        return {}

    def extra_repr(self) -> str:
        return f"n={self.n}, dim={self.dim}, num_params={self.num_params()}"


class FullTable(EmbeddingTable):
    """The unified-dimension (UD) baseline: one free ``[n, dim]`` table, N(0, init_std^2) as LightGCN."""

    def __init__(self, n: int, dim: int, init_std: float = 0.1):
        super().__init__(n, dim)
        self.weight = nn.Parameter(torch.randn(n, dim) * init_std)

    def forward(self) -> torch.Tensor:
        return self.weight

    def num_params(self) -> int:
        return self.n * self.dim


QR_COMBINE = ("sum", "mult", "concat")


class QRTable(EmbeddingTable):
    """Quotient-remainder compositional embedding (Shi et al., KDD'20), CERP convention (methods.md 6.7).

    Specified (CERP code): two tables of ``buckets`` rows each; entity ``p`` takes remainder row
    ``p mod buckets`` and quotient row ``p // ceil(n / buckets)``; the rows are summed (CERP default) or
    concatenated (each table then has ``dim / 2`` columns). ``"mult"`` is DLRM's element-wise product.
    The quotient index is always ``< buckets``. Two distinct ids get the same pair of rows - an identical
    embedding - only when ``ceil(n / buckets) > buckets`` (``collision_free`` says whether that can happen).

    Reconstructed: initialisation N(0, init_std^2 / 2) per table for ``sum`` (so that rows have LightGCN's
    std), N(0, init_std) for ``mult`` (product std = init_std), N(0, init_std^2) for ``concat``; CERP uses
    Xavier-uniform.
    """

    def __init__(self, n: int, dim: int, buckets: int, combine: str = "sum", init_std: float = 0.1):
        super().__init__(n, dim)
        _check_positive(buckets=buckets)
        if combine not in QR_COMBINE:
            raise ValueError(f"unknown QR combination {combine!r}; choose one of {QR_COMBINE}")
        if buckets > n:
            raise ValueError(f"buckets ({buckets}) must not exceed the number of entities ({n})")
        if combine == "concat" and dim % 2:
            raise ValueError(f"combine='concat' needs an even dim (each table holds dim / 2 columns), got {dim}")
        self.buckets, self.combine = buckets, combine
        self.quotient_divisor = math.ceil(n / buckets)
        cols = dim // 2 if combine == "concat" else dim
        std = {"sum": init_std / math.sqrt(2), "mult": math.sqrt(init_std), "concat": init_std}[combine]
        self.remainder_table = nn.Parameter(torch.randn(buckets, cols) * std)
        self.quotient_table = nn.Parameter(torch.randn(buckets, cols) * std)
        ids = torch.arange(n)
        self.register_buffer("remainder_index", ids % buckets, persistent=False)
        self.register_buffer("quotient_index", torch.div(ids, self.quotient_divisor, rounding_mode="floor"),
                             persistent=False)

    @property
    def collision_free(self) -> bool:
        """True when every entity has its own (quotient, remainder) pair: ``ceil(n / buckets) <= buckets``."""
        return self.quotient_divisor <= self.buckets

    def forward(self) -> torch.Tensor:
        r = self.remainder_table[self.remainder_index]
        q = self.quotient_table[self.quotient_index]
        if self.combine == "sum":
            return r + q
        if self.combine == "mult":
            return r * q
        return torch.cat([r, q], dim=1)

    def num_params(self) -> int:
        return self.remainder_table.numel() + self.quotient_table.numel()


PEP_GRANULARITIES = ("global", "dimension", "feature", "feature_dim")


class PEPTable(EmbeddingTable):
    """PEP soft-threshold pruning (Liu et al., ICLR'21) with its two-stage protocol.

    Specified (PEP code): ``V_sparse = sign(V) * relu(|V| - sigmoid(s))`` with learnable thresholds ``s``
    initialised to ``threshold_init`` (-15) at the chosen granularity (``global`` [1], ``dimension`` [dim],
    ``feature`` [n, 1], ``feature_dim`` [n, dim]; PEP's ``field`` variants are omitted: our id space has no
    fields). Stage 1 (search) trains ``V`` and ``s`` until the number of non-zeros reaches the budget
    ``target_params``; the mask ``V_sparse != 0`` of that moment is kept and stage 2 (retrain) trains the
    *original initialisation* of ``V`` under the fixed mask (lottery-ticket, PEP's ``gk = 0``).

    How the switch is triggered in our trainer (reconstructed): :meth:`on_epoch_start` - called by
    :func:`qlib.train.fit` through the model at the start of every epoch - counts the non-zeros and
    calls :meth:`freeze` the first time they are ``<= target_params``. PEP's code checks every
    ``log_interval`` steps; we check per epoch, so the mask may prune a little more than the budget asks.
    Stage 2 trains a second parameter ``retrain_weight``, a copy of the initial ``V`` that stage 1 never
    touches: Adam holds no state for it until its first gradient, which makes the retrain start with a
    fresh optimizer state, as PEP's separate retrain run does, inside one ``fit`` call (costs one extra
    ``[n, dim]`` float tensor during training; never counted as stored). ``selectable`` is False until the
    mask is frozen, so ``fit`` selects only retrained states. Without a ``target_params`` the table only
    searches (always selectable). ``mask``, ``frozen`` and the initial ``V`` are buffers/parameters, so
    checkpoints and ``fit``'s best-state reload carry the stage.

    When the thresholds do not reach the budget (reconstructed; PEP's code simply trains longer): the
    decay drives ``s`` towards 0, i.e. the threshold towards sigmoid(0) = 0.5, and no further, so entries
    that grew beyond 0.5 are never pruned by the decay alone. Under this book's CPU recipe (few large-batch
    steps at a large learning rate) Gowalla's table stalls at about half its entries, far above LEGCF's
    budget of a few percent. So the search is limited to the first ``search_fraction`` of the epochs
    (default half, LEGCF's own pre-training share): at the first epoch start past it the mask keeps the
    ``target_params`` entries of largest ``|V_sparse|`` (global magnitude pruning of the learned sparse
    table) and the retrain starts as above; ``forced`` records that this happened.

    ``num_params()`` = non-zeros (the frozen mask's size after the switch); the thresholds are a training
    device and not stored. Sparse storage (``extra_bits``): CSR with ``ceil(log2 dim)``-bit column indices
    per non-zero and ``n + 1`` row pointers of ``ceil(log2(nnz + 1))`` bits.

    What drives the pruning: PEP's code trains with Adam and ``weight_decay = 1e-5`` on every parameter
    (``fm_l2_regularization``, ``utils/train.py::use_optimizer``). At ``s = -15`` the loss gradient on ``s``
    carries a factor ``sigmoid'(s) ~ 3e-7``, so the decay ``1e-5 * s`` dominates and Adam's normalised
    steps move ``s`` towards 0 (threshold 0.5) by about ``lr`` per step. Our trainer's Adam has no weight
    decay, so the table supplies the same gradient through :meth:`regularizer` (``threshold_decay``,
    default 1e-5), on the thresholds only: ``V`` is regularised by LightGCN's L2 term instead.

    Reconstructed: N(0, init_std^2) initialisation (PEP uses Xavier-uniform), sigmoid for ``g``.
    """

    def __init__(self, n: int, dim: int, threshold_init: float = -15.0, granularity: str = "feature_dim",
                 target_params: int | None = None, threshold_decay: float = 1e-5, init_std: float = 0.1,
                 search_fraction: float = 0.5):
        super().__init__(n, dim)
        if granularity not in PEP_GRANULARITIES:
            raise ValueError(f"unknown PEP granularity {granularity!r}; choose one of {PEP_GRANULARITIES}")
        if target_params is not None:
            _check_positive(target_params=target_params)
        if threshold_decay < 0:
            raise ValueError(f"threshold_decay must be >= 0, got {threshold_decay}")
        if not 0.0 < search_fraction <= 1.0:
            raise ValueError(f"search_fraction must be in (0, 1], got {search_fraction}; 1 searches the whole run "
                             "(and nothing is selectable if the thresholds never reach the budget)")
        self.granularity, self.target_params, self.threshold_decay = granularity, target_params, threshold_decay
        self.search_fraction = search_fraction
        shape = {"global": (1, 1), "dimension": (1, dim), "feature": (n, 1), "feature_dim": (n, dim)}[granularity]
        self.threshold = nn.Parameter(torch.full(shape, float(threshold_init)))
        self.weight = nn.Parameter(torch.randn(n, dim) * init_std)
        self.retrain_weight = nn.Parameter(self.weight.detach().clone())  # the original init, for stage 2
        self.register_buffer("mask", torch.ones(n, dim, dtype=torch.bool))
        self.register_buffer("frozen_flag", torch.zeros((), dtype=torch.bool))
        self.register_buffer("forced_flag", torch.zeros((), dtype=torch.bool))
        self.register_buffer("search_nnz", torch.zeros((), dtype=torch.long))   # non-zeros when the search ended

    @property
    def frozen(self) -> bool:
        return bool(self.frozen_flag)

    @property
    def forced(self) -> bool:
        """The search stage ended without reaching the budget and the mask was cut to it by magnitude."""
        return bool(self.forced_flag)

    def forward(self) -> torch.Tensor:
        if self.frozen:
            return self.retrain_weight * self.mask
        v = self.weight
        return torch.sign(v) * torch.relu(v.abs() - torch.sigmoid(self.threshold))

    @torch.no_grad()
    def nnz(self) -> int:
        """Current number of non-zero entries of the (pruned) table."""
        if self.frozen:
            return int(self.mask.sum())
        return int((self.forward() != 0).sum())

    def sparsity(self) -> float:
        """Fraction of zero entries, 1 - nnz / (n * dim)."""
        return 1.0 - self.nnz() / (self.n * self.dim)

    @torch.no_grad()
    def freeze(self, rewind: bool = True, keep: int | None = None) -> None:
        """Fix the mask to the current non-zero pattern and enter the retrain stage.

        ``rewind=True`` (PEP): stage 2 starts from the original initialisation under the mask; ``False``
        continues from the current pruned values instead. ``keep``: keep only the ``keep`` entries of
        largest magnitude among the non-zeros (ties broken by position).
        """
        if self.frozen:
            raise ValueError("the PEP mask is already frozen")
        current = self.forward()
        if keep is not None and keep < int((current != 0).sum()):
            _check_positive(keep=keep)
            flat = torch.zeros(current.numel(), dtype=torch.bool, device=current.device)
            flat[torch.topk(current.abs().flatten(), keep, sorted=False).indices] = True
            self.mask.copy_(flat.view_as(current))
        else:
            self.mask.copy_(current != 0)
        if not rewind:
            self.retrain_weight.copy_(current)
        self.frozen_flag.fill_(True)
        self.threshold.requires_grad_(False)
        self.weight.requires_grad_(False)

    def on_epoch_start(self, epoch: int, n_epochs: int) -> None:
        """Stage switch: freeze the mask at the first epoch start with ``nnz() <= target_params``, or, failing
        that, at the first epoch start past ``search_fraction`` of the run, cut to the budget by magnitude."""
        if self.target_params is None or self.frozen:
            return
        nnz = self.nnz()
        cut = nnz > self.target_params
        if cut and epoch < math.ceil(self.search_fraction * n_epochs):
            return   # still searching
        self.search_nnz.fill_(nnz)
        self.freeze(rewind=True, keep=self.target_params if cut else None)
        self.forced_flag.fill_(cut)

    @property
    def selectable(self) -> bool:
        return self.frozen or self.target_params is None

    def regularizer(self) -> torch.Tensor | None:
        """``0.5 * threshold_decay * ||s||^2`` during the search (None once frozen): the gradient
        ``threshold_decay * s`` is PEP's Adam weight decay acting on the thresholds."""
        if self.frozen or self.threshold_decay == 0:
            return None
        return 0.5 * self.threshold_decay * self.threshold.pow(2).sum()

    def num_params(self) -> int:
        return self.nnz()

    def state_facts(self) -> dict:
        return {"pep_frozen": self.frozen, "pep_mask_cut_by_magnitude": self.forced, "pep_nnz": self.nnz(),
                "pep_target_params": self.target_params,
                "pep_nnz_when_search_ended": int(self.search_nnz) if self.frozen else None}

    def extra_bits(self) -> int:
        nnz = self.nnz()
        return nnz * max(1, math.ceil(math.log2(self.dim))) + (self.n + 1) * max(1, math.ceil(math.log2(nnz + 1)))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        frozen = self.frozen  # keep requires_grad consistent with a loaded stage
        self.threshold.requires_grad_(not frozen)
        self.weight.requires_grad_(not frozen)


DHE_ENCODINGS = ("uniform", "gaussian")
_DHE_PRIME = 2_147_483_647  # 2^31 - 1, the modulus of the universal hash family


class DHETable(EmbeddingTable):
    """Deep Hash Embedding (Kang et al., KDD'21): no table, an MLP over a dense hash encoding of the id.

    Specified (DHE paper): ``k = n_hash`` universal hash functions ``h_j(x) = ((a_j x + b_j) mod p) mod m``
    (``m = 10^6`` buckets) map each id to ``k`` integers, turned into reals in [-1, 1] (``uniform``) or
    N(0, 1) by Box-Muller (``gaussian``); a deep MLP (Mish activations, batch normalisation) decodes the
    encoding to the embedding. The hash coefficients are fixed (not learned).

    Reconstructed: the widths default to two hidden layers of 256; batch norm uses the statistics of the
    whole id space (``track_running_stats=False``) - every forward covers all ``n`` entities, so training
    and evaluation normalise identically; the encoding is computed once and cached in a non-persistent
    buffer (it is a pure function of the stored hash coefficients). ``num_params()`` = the MLP's weights,
    biases and batch-norm affine parameters; ``extra_bits()`` = the ``2 k`` 32-bit hash coefficients.
    """

    def __init__(self, n: int, dim: int, n_hash: int = 1024, hidden: Sequence[int] | int = (256, 256),
                 encoding: str = "uniform", hash_buckets: int = 1_000_000, batch_norm: bool = True,
                 hash_seed: int = 0):
        super().__init__(n, dim)
        hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
        _check_positive(n_hash=n_hash, hash_buckets=hash_buckets)
        if not hidden:
            raise ValueError("DHE needs at least one hidden layer")
        _check_positive(**{f"hidden[{i}]": h for i, h in enumerate(hidden)})
        if encoding not in DHE_ENCODINGS:
            raise ValueError(f"unknown DHE encoding {encoding!r}; choose one of {DHE_ENCODINGS}")
        if encoding == "gaussian" and n_hash % 2:
            raise ValueError(f"the gaussian encoding (Box-Muller) needs an even n_hash, got {n_hash}")
        if hash_buckets >= _DHE_PRIME:
            raise ValueError(f"hash_buckets must be below the prime {_DHE_PRIME}")
        self.n_hash, self.hidden, self.encoding, self.hash_buckets = n_hash, hidden, encoding, hash_buckets
        self.batch_norm = batch_norm
        gen = torch.Generator().manual_seed(hash_seed)
        self.register_buffer("hash_a", torch.randint(1, _DHE_PRIME, (n_hash,), generator=gen))
        self.register_buffer("hash_b", torch.randint(0, _DHE_PRIME, (n_hash,), generator=gen))
        layers: list[nn.Module] = []
        width = n_hash
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h, track_running_stats=False))
            layers.append(nn.Mish())
            width = h
        layers.append(nn.Linear(width, dim))
        self.decoder = nn.Sequential(*layers)
        self.register_buffer("_encoding_cache", torch.empty(0), persistent=False)

    @torch.no_grad()
    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """Dense hash encoding ``[len(ids), n_hash]`` of integer ids."""
        x = ids.to(self.hash_a.device, torch.int64).unsqueeze(1)
        # a < 2^31 and ids < 2^31 keep a * x + b inside int64
        h = ((self.hash_a * x + self.hash_b) % _DHE_PRIME) % self.hash_buckets
        u = h.to(torch.float32) / (self.hash_buckets - 1)        # in [0, 1]
        if self.encoding == "uniform":
            return 2.0 * u - 1.0
        u1, u2 = u[:, 0::2].clamp_min(1e-12), u[:, 1::2]          # Box-Muller on pairs
        r = torch.sqrt(-2.0 * torch.log(u1))
        return torch.cat([r * torch.cos(2 * math.pi * u2), r * torch.sin(2 * math.pi * u2)], dim=1)

    def forward(self) -> torch.Tensor:
        if self._encoding_cache.shape != (self.n, self.n_hash) or self._encoding_cache.device != self.hash_a.device:
            self._encoding_cache = self.encode(torch.arange(self.n, device=self.hash_a.device))
        return self.decoder(self._encoding_cache)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.decoder.parameters())

    def extra_bits(self) -> int:
        return 2 * 32 * self.n_hash

    @staticmethod
    def params_for(n_hash: int, hidden: Sequence[int], dim: int, batch_norm: bool = True) -> int:
        """MLP parameter count for the given widths (what ``num_params`` returns)."""
        widths = [n_hash, *hidden, dim]
        linear = sum(a * b + b for a, b in pairwise(widths))
        return linear + (2 * sum(hidden) if batch_norm else 0)


def balanced_factors(n: int, k: int = 3) -> tuple[int, ...]:
    """``k`` near-equal integers whose product is ``>= n`` and as small as this greedy search finds
    (TT-Rec pads the id space up to the product of its factors)."""
    _check_positive(n=n, k=k)
    f = [math.ceil(n ** (1.0 / k))] * k
    while math.prod(f) < n:  # guard against floating-point roots
        f[0] += 1
    for i in range(k):
        while f[i] > 1 and math.prod(f) // f[i] * (f[i] - 1) >= n:
            f[i] -= 1
    return tuple(sorted(f))


def dim_factors(d: int, k: int = 3) -> tuple[int, ...]:
    """``k`` factors with product exactly ``d``, as balanced as possible (smallest max, then largest min),
    in ascending order; e.g. 64 -> (4, 4, 4), 128 -> (4, 4, 8)."""
    _check_positive(d=d, k=k)
    divisors = [x for x in range(1, d + 1) if d % x == 0]
    best = None
    for combo in _iproduct(divisors, repeat=k - 1):
        if d % math.prod(combo):
            continue
        f = tuple(sorted((*combo, d // math.prod(combo))))
        key = (f[-1], -f[0])
        if best is None or key < best[0]:
            best = (key, f)
    return best[1]


class TTTable(EmbeddingTable):
    """Tensor-train factorised table (TT-Rec, Yin et al., MLSys'21; "NimbleTT" in LEGCF's Table 2).

    Specified (TT-Rec): the id space is padded to ``n1 * ... * nk >= n`` (``shape``) and the dimension
    factorised as ``d = d1 * ... * dk`` (``dim_shape``); core ``G_j`` has shape ``[r_{j-1}, n_j, d_j, r_j]``
    with ``r_0 = r_k = 1`` and ``ranks = (r_1, ..., r_{k-1})``. Entity ``p = (i_1, ..., i_k)`` (mixed radix,
    ``i_1`` most significant) has row ``G_1[:, i_1] G_2[:, i_2] ... G_k[:, i_k]`` reshaped to ``d``. Cores
    are initialised N(0, sigma^2) with ``sigma = (init_std^2 / prod(ranks))^(1 / 2k)`` so that rows have
    variance ``init_std^2`` (TT-Rec's sampled-Gaussian initialisation idea).

    Reconstructed: 3 cores by default with balanced factors (:func:`balanced_factors`, :func:`dim_factors`);
    ids are used in their given order (Nimble GNN's graph-partition reordering of ids is not applied).
    ``forward`` contracts the cores core by core into all ``n1 * ... * nk`` rows at once (cost
    ``O(n d r)``) and keeps the first ``n``. ``num_params() = sum_j r_{j-1} n_j d_j r_j``.
    """

    def __init__(self, n: int, dim: int, ranks: int | Sequence[int] = 8, shape: Sequence[int] | None = None,
                 dim_shape: Sequence[int] | None = None, init_std: float = 0.1):
        super().__init__(n, dim)
        k = len(shape) if shape is not None else len(dim_shape) if dim_shape is not None else 3
        shape = tuple(shape) if shape is not None else balanced_factors(n, k)
        dim_shape = tuple(dim_shape) if dim_shape is not None else dim_factors(dim, k)
        ranks = (ranks,) * (k - 1) if isinstance(ranks, int) else tuple(ranks)
        if k < 2:
            raise ValueError(f"a tensor train needs at least 2 cores, got shape {shape}")
        if len(dim_shape) != k or len(ranks) != k - 1:
            raise ValueError(f"shape {shape}, dim_shape {dim_shape} and ranks {ranks} must have k, k and k - 1 "
                             "entries")
        _check_positive(**{f"shape[{i}]": s for i, s in enumerate(shape)},
                        **{f"dim_shape[{i}]": s for i, s in enumerate(dim_shape)},
                        **{f"ranks[{i}]": r for i, r in enumerate(ranks)})
        if math.prod(shape) < n:
            raise ValueError(f"shape {shape} covers {math.prod(shape)} ids, fewer than n = {n}")
        if math.prod(dim_shape) != dim:
            raise ValueError(f"dim_shape {dim_shape} multiplies to {math.prod(dim_shape)}, not dim = {dim}")
        self.shape, self.dim_shape, self.ranks = shape, dim_shape, ranks
        full_ranks = (1, *ranks, 1)
        sigma = (init_std ** 2 / math.prod(ranks)) ** (1.0 / (2 * k))
        self.cores = nn.ParameterList(
            nn.Parameter(torch.randn(full_ranks[j], shape[j], dim_shape[j], full_ranks[j + 1]) * sigma)
            for j in range(k))

    @staticmethod
    def params_for(shape: Sequence[int], dim_shape: Sequence[int], ranks: Sequence[int]) -> int:
        r = (1, *ranks, 1)
        return sum(r[j] * shape[j] * dim_shape[j] * r[j + 1] for j in range(len(shape)))

    def forward(self) -> torch.Tensor:
        first = self.cores[0]
        x = first.reshape(first.shape[1], first.shape[2], first.shape[3])  # [rows, cols, r]
        for core in self.cores[1:]:
            rows, cols, _ = x.shape
            x = torch.einsum("acr,rbds->abcds", x, core)                   # [rows, n_j, cols, d_j, r']
            x = x.reshape(rows * core.shape[1], cols * core.shape[2], core.shape[3])
        return x[: self.n, :, 0]

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows of selected ids only (the TT-Rec lookup), ``[len(ids), dim]``."""
        digits, rest = [], ids.to(torch.int64)
        for s in reversed(self.shape):
            digits.append(rest % s)
            rest = torch.div(rest, s, rounding_mode="floor")
        digits.reverse()
        out = self.cores[0][0, digits[0]]                                   # [b, d1, r1]
        for core, idx in zip(self.cores[1:], digits[1:]):
            g = core.permute(1, 0, 2, 3)[idx]                               # [b, r, d_j, r']
            out = torch.einsum("bcr,brds->bcds", out, g).reshape(len(ids), -1, core.shape[3])
        return out[:, :, 0]

    def num_params(self) -> int:
        return sum(c.numel() for c in self.cores)


TABLE_KINDS = MappingProxyType({  # read-only registry: name -> table class
    "full": FullTable, "qr": QRTable, "pep": PEPTable, "dhe": DHETable, "tt": TTTable})


def make_table(kind: str, n: int, dim: int, **kwargs) -> EmbeddingTable:
    """Build a table by name (``full``, ``qr``, ``pep``, ``dhe``, ``tt``) with its own keyword arguments."""
    try:
        cls = TABLE_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown embedding table {kind!r}; choose one of {sorted(TABLE_KINDS)}") from None
    return cls(n, dim, **kwargs)


def legcf_budget(n: int, dim: int = 128, n_meta: int = 500, t: int = 2) -> int:
    """LEGCF's parameter count at ``c = n_meta`` buckets, the budget of the variable-size baselines
    (Sec. 4.1.4): ``c * d`` codebook floats plus ``t`` assignment non-zeros per entity (Sec. 3.4, O(tN + cd)).
    Gowalla (N = 70,839, d = 128): 205,678 = 0.21m as in Table 2."""
    _check_positive(n=n, dim=dim, n_meta=n_meta, t=t)
    return n_meta * dim + t * n


def _largest(count: Callable[[int], int], budget: int, what: str, hi: int = 1 << 20) -> int:
    """Largest x in [1, hi] with count(x) <= budget, for count increasing in x."""
    if count(1) > budget:
        raise ValueError(f"a budget of {budget} parameters cannot fit even {what} = 1 ({count(1)} parameters)")
    lo = 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def table_for_budget(kind: str, n: int, dim: int, n_params: int, **kwargs) -> EmbeddingTable:
    """A table of ``kind`` whose ``num_params()`` is as close to ``n_params`` as its size knob allows, never above.

    - ``full``: the UD table at the largest dimension ``<= dim`` that fits (``n_params // n``; LEGCF's
      Table 4 compares UD tables "of similar parameter sizes"), so the model's dimension may shrink;
    - ``qr``: the most buckets (two tables of ``buckets`` rows; ``dim / 2`` columns each for concat);
    - ``pep``: a full-size PEP table with ``target_params = n_params`` non-zeros (reached by training);
    - ``dhe``: the widest equal-width hidden layers (``n_layers`` of them, default 2) for ``n_hash``;
    - ``tt``: the largest uniform TT rank for the (default or given) ``shape`` / ``dim_shape``.

    Other keyword arguments go to the table's constructor.
    """
    _check_positive(n=n, dim=dim, n_params=n_params)
    if kind == "full":
        d = min(dim, n_params // n)
        if d < 1:
            raise ValueError(f"a budget of {n_params} parameters cannot hold a full table of {n} rows")
        return FullTable(n, d, **kwargs)
    if kind == "qr":
        cols = dim // 2 if kwargs.get("combine", "sum") == "concat" else dim
        buckets = min(n, n_params // (2 * cols))
        if buckets < 1:
            raise ValueError(f"a budget of {n_params} parameters cannot hold two QR rows of {cols} floats")
        return QRTable(n, dim, buckets, **kwargs)
    if kind == "pep":
        return PEPTable(n, dim, target_params=min(n_params, n * dim), **kwargs)
    if kind == "dhe":
        n_layers = kwargs.pop("n_layers", 2)
        _check_positive(n_layers=n_layers)
        n_hash, bn = kwargs.get("n_hash", 1024), kwargs.get("batch_norm", True)
        width = _largest(lambda h: DHETable.params_for(n_hash, (h,) * n_layers, dim, bn), n_params, "hidden width")
        return DHETable(n, dim, hidden=(width,) * n_layers, **kwargs)
    if kind == "tt":
        k = len(kwargs["shape"]) if kwargs.get("shape") is not None else 3
        shape = tuple(kwargs.pop("shape", None) or balanced_factors(n, k))
        dim_shape = tuple(kwargs.pop("dim_shape", None) or dim_factors(dim, len(shape)))
        if kwargs.pop("ranks", None) is not None:
            raise ValueError("table_for_budget chooses the TT ranks; do not pass ranks")
        rank = _largest(lambda r: TTTable.params_for(shape, dim_shape, (r,) * (len(shape) - 1)), n_params, "TT rank")
        return TTTable(n, dim, ranks=rank, shape=shape, dim_shape=dim_shape, **kwargs)
    raise ValueError(f"unknown embedding table {kind!r}; choose one of {sorted(TABLE_KINDS)}")
