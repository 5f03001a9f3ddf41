"""Parameter-budget embedding tables (LEGCF Table 2 baselines) and LightGCN over them."""
from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
import torch

from qlib.embedding_tables import (
    DHETable,
    FullTable,
    PEPTable,
    QRTable,
    TTTable,
    balanced_factors,
    dim_factors,
    legcf_budget,
    make_table,
    table_for_budget,
)
from qlib.graph import build_norm_adj
from qlib.models import LightGCNConfig, TableLightGCN, table_lightgcn_factory
from qlib.train import TrainConfig, evaluation_split, fit, seed_everything


@pytest.fixture(autouse=True)
def _seed():
    seed_everything(0)


# ---------------------------------------------------------------- shapes and parameter counts

@pytest.mark.parametrize("table, expected", [
    (lambda: FullTable(50, 8), 50 * 8),
    (lambda: QRTable(50, 8, buckets=10), 2 * 10 * 8),
    (lambda: QRTable(50, 8, buckets=10, combine="mult"), 2 * 10 * 8),
    (lambda: QRTable(50, 8, buckets=10, combine="concat"), 2 * 10 * 4),
    (lambda: DHETable(50, 8, n_hash=32, hidden=(16, 12)), 32 * 16 + 16 + 16 * 12 + 12 + 12 * 8 + 8 + 2 * (16 + 12)),
    (lambda: DHETable(50, 8, n_hash=32, hidden=16, batch_norm=False), 32 * 16 + 16 + 16 * 8 + 8),
    (lambda: TTTable(50, 8, ranks=(3, 5), shape=(3, 4, 5), dim_shape=(2, 2, 2)), 1 * 3 * 2 * 3 + 3 * 4 * 2 * 5 + 5 * 5 * 2 * 1),
])
def test_tables_produce_all_rows_and_count_their_floats(table, expected):
    t = table()
    out = t()
    assert out.shape == (50, 8) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert t.num_params() == expected


def test_pep_counts_non_zeros_and_dhe_tt_formulas_are_static():
    pep = PEPTable(40, 6)
    assert pep.num_params() == 40 * 6  # sigmoid(-15) ~ 3e-7 prunes (almost surely) nothing at init
    with torch.no_grad():
        pep.weight[:5] = 0.0
    assert pep.num_params() == 35 * 6
    assert DHETable.params_for(8, (4,), 3) == DHETable(10, 3, n_hash=8, hidden=4).num_params()
    assert TTTable.params_for((2, 3), (2, 4), (7,)) == TTTable(6, 8, ranks=7, shape=(2, 3), dim_shape=(2, 4)).num_params()


def test_legcf_budget_matches_table2():
    # Gowalla: N = 29,858 + 40,981; c * d + t * N with c = 500, d = 128, t = 2 is Table 2's 0.21m
    assert legcf_budget(29_858 + 40_981) == 205_678
    assert round(legcf_budget(71_135 + 45_063) / 1e6, 2) == 0.30      # Yelp2020
    assert round(legcf_budget(52_643 + 91_599) / 1e6, 2) == 0.35      # Amazon-book


# ---------------------------------------------------------------- QR

@pytest.mark.parametrize("combine", ["sum", "mult", "concat"])
def test_qr_rows_are_equal_exactly_when_quotient_and_remainder_match(combine):
    t = QRTable(20, 4, buckets=3, combine=combine)   # ceil(20 / 3) = 7 > 3: collisions exist
    assert not t.collision_free
    rows = t().detach()
    ids = torch.arange(20)
    rem, quo = ids % 3, ids // 7
    assert int(quo.max()) < 3
    n_collisions = 0
    for i in range(20):
        for j in range(i + 1, 20):
            same_codes = bool(rem[i] == rem[j]) and bool(quo[i] == quo[j])
            assert torch.equal(rows[i], rows[j]) == same_codes, (i, j)
            n_collisions += same_codes
    assert n_collisions > 0  # e.g. ids 0 and 3: remainder 0, quotient 0
    # sharing only the remainder (0, 9) or only the quotient (0, 1) is not enough
    assert not torch.equal(rows[0], rows[9]) and not torch.equal(rows[0], rows[1])


def test_qr_with_enough_buckets_is_collision_free():
    t = QRTable(20, 4, buckets=5)  # ceil(20 / 5) = 4 <= 5
    assert t.collision_free
    assert torch.unique(t().detach(), dim=0).shape[0] == 20


# ---------------------------------------------------------------- PEP

@pytest.mark.parametrize("granularity, shape", [("global", (1, 1)), ("dimension", (1, 6)), ("feature", (30, 1)),
                                                ("feature_dim", (30, 6))])
def test_pep_sparsity_rises_with_the_thresholds(granularity, shape):
    t = PEPTable(30, 6, granularity=granularity)
    assert t.threshold.shape == shape
    sparsities = []
    for s in (-15.0, -4.0, -3.0, -2.0, -1.0, 0.0, 2.0):
        with torch.no_grad():
            t.threshold.fill_(s)
        sparsities.append(t.sparsity())
        out = t().detach()
        expected = torch.sign(t.weight) * torch.relu(t.weight.abs() - torch.sigmoid(torch.tensor(s)))
        torch.testing.assert_close(out, expected.detach())
    assert all(a <= b for a, b in pairwise(sparsities)), sparsities
    assert sparsities[0] == 0.0 and sparsities[-1] > 0.9 and sparsities[-1] > sparsities[2]


def test_pep_frozen_mask_stays_fixed_and_retrain_starts_from_the_initialisation():
    t = PEPTable(30, 6, target_params=100)
    init = t.weight.detach().clone()
    opt = torch.optim.Adam(t.parameters(), lr=0.05)
    t.on_epoch_start(0, 10)
    assert not t.frozen and not t.selectable  # 180 non-zeros > 100: keep searching
    goal = torch.randn(30, 6) * 0.2
    for _ in range(5):  # search steps change the weights
        opt.zero_grad()
        ((t() - goal).pow(2).sum() + t.regularizer()).backward()
        opt.step()
    assert not torch.equal(t.weight.detach(), init)
    with torch.no_grad():  # a threshold at the 60th percentile of |V| leaves ~72 non-zeros
        t.threshold.fill_(torch.logit(t.weight.abs().quantile(0.6)).item())
    nnz = t.nnz()
    assert 0 < nnz <= 100
    expected_mask = t().detach() != 0
    t.on_epoch_start(1, 10)
    assert t.frozen and t.selectable and t.regularizer() is None
    assert torch.equal(t.mask, expected_mask) and t.num_params() == nnz
    torch.testing.assert_close(t().detach(), init * expected_mask)  # lottery-ticket rewind
    for _ in range(5):  # retrain: values move, the zero pattern does not
        opt.zero_grad()
        (t() - 1.0).pow(2).sum().backward()
        opt.step()
    out = t().detach()
    assert torch.equal(t.mask, expected_mask)
    assert torch.equal(out != 0, expected_mask) and not torch.allclose(out, init * expected_mask)
    with torch.no_grad():
        t.threshold.fill_(5.0)  # thresholds no longer act
    assert torch.equal(t().detach(), out)
    fresh = PEPTable(30, 6, target_params=100)
    fresh.load_state_dict(t.state_dict())  # checkpoints / fit's best-state reload carry the stage
    assert fresh.frozen and torch.equal(fresh().detach(), out) and not fresh.threshold.requires_grad
    with pytest.raises(ValueError, match="already frozen"):
        t.freeze()


def test_pep_search_that_misses_the_budget_is_cut_to_it_by_magnitude_at_the_search_limit():
    t = PEPTable(30, 6, target_params=50, search_fraction=0.5)   # thresholds at -15 prune nothing
    init = t.weight.detach().clone()
    with torch.no_grad():
        k = torch.arange(180, dtype=torch.float32)
        t.weight.copy_(((k + 1) * 0.005 * (-1) ** k).view(30, 6))   # distinct magnitudes, both signs
    assert t.state_facts() == {"pep_frozen": False, "pep_mask_cut_by_magnitude": False, "pep_nnz": 180,
                               "pep_target_params": 50, "pep_nnz_when_search_ended": None}
    t.on_epoch_start(4, 10)
    assert not t.frozen and not t.selectable          # still searching before half of the run
    current = t().detach()
    t.on_epoch_start(5, 10)
    assert t.frozen and t.forced and t.selectable and t.num_params() == 50
    cutoff = current.abs().flatten().sort(descending=True).values[49]
    assert torch.equal(t.mask, current.abs() >= cutoff)  # the 50 largest |V_sparse|
    torch.testing.assert_close(t().detach(), init * t.mask)   # retrain from the original initialisation
    assert t.state_facts()["pep_mask_cut_by_magnitude"] is True and t.state_facts()["pep_nnz_when_search_ended"] == 180
    fresh = PEPTable(30, 6, target_params=50)
    fresh.load_state_dict(t.state_dict())   # the checkpoint carries the fact
    assert fresh.forced and fresh.frozen


def test_pep_reaching_the_budget_first_is_not_a_cut():
    t = PEPTable(30, 6, target_params=100)
    with torch.no_grad():
        t.threshold.fill_(torch.logit(t.weight.abs().quantile(0.6)).item())
    t.on_epoch_start(9, 10)     # past the search limit, but the thresholds already meet the budget
    assert t.frozen and not t.forced and t.num_params() <= 100


def test_pep_threshold_decay_is_the_adam_weight_decay_gradient():
    t = PEPTable(10, 4, threshold_init=-15.0, threshold_decay=1e-5)
    t.regularizer().backward()
    torch.testing.assert_close(t.threshold.grad, torch.full_like(t.threshold, -15.0 * 1e-5))
    assert PEPTable(10, 4, threshold_decay=0.0).regularizer() is None


# ---------------------------------------------------------------- DHE

def test_dhe_encoding_is_deterministic_in_range_and_distinct():
    a, b = DHETable(100, 8, n_hash=64, hidden=16), DHETable(100, 8, n_hash=64, hidden=16)
    ids = torch.arange(100)
    enc = a.encode(ids)
    assert enc.shape == (100, 64) and enc.min() >= -1 and enc.max() <= 1
    assert torch.equal(enc, b.encode(ids))                       # same hash_seed, same hash functions
    assert torch.unique(enc, dim=0).shape[0] == 100              # every id has its own code
    assert not torch.equal(enc, DHETable(100, 8, n_hash=64, hidden=16, hash_seed=1).encode(ids))
    g = DHETable(100, 8, n_hash=64, hidden=16, encoding="gaussian").encode(ids)
    assert abs(float(g.mean())) < 0.1 and abs(float(g.std()) - 1) < 0.1
    out = a()
    assert out.shape == (100, 8)
    out.sum().backward()
    assert all(p.grad is not None for p in a.decoder.parameters())
    assert a.extra_bits() == 2 * 32 * 64


# ---------------------------------------------------------------- TT

def test_tt_rows_are_reproducible_and_equal_the_core_products():
    t = TTTable(50, 8, ranks=(3, 4), shape=(3, 4, 5), dim_shape=(2, 2, 2))
    full = t().detach()
    assert torch.equal(full, t().detach())
    ids = torch.tensor([0, 1, 7, 19, 20, 49])
    torch.testing.assert_close(t.rows(ids).detach(), full[ids])
    g1, g2, g3 = (c.detach() for c in t.cores)
    for p in ids.tolist():
        i1, i2, i3 = p // 20, (p // 5) % 4, p % 5
        # row = G1[:, i1] G2[:, i2] G3[:, i3]: entry (j1, j2, j3) = sum_{r, s} G1[0,i1,j1,r] G2[r,i2,j2,s] G3[s,i3,j3,0]
        naive = torch.einsum("ar,brs,cs->abc", g1[0, i1], g2[:, i2].permute(1, 0, 2), g3[:, i3, :, 0].t())
        torch.testing.assert_close(full[p], naive.reshape(-1))


def test_tt_default_factorisation_and_initial_scale():
    assert balanced_factors(70_839) == (41, 42, 42) and math.prod(balanced_factors(140)) >= 140
    assert dim_factors(128) == (4, 4, 8) and dim_factors(64) == (4, 4, 4) and dim_factors(7, 2) == (1, 7)
    t = TTTable(5000, 64, ranks=16, init_std=0.1)
    assert t.shape == balanced_factors(5000) and t.dim_shape == (4, 4, 4)
    assert abs(float(t().detach().std()) - 0.1) < 0.03  # cores scaled so that rows have LightGCN's init std


# ---------------------------------------------------------------- budgets

@pytest.mark.parametrize("kind", ["full", "qr", "pep", "dhe", "tt"])
@pytest.mark.parametrize("budget", [700, 2_000, 9_000])
def test_table_for_budget_stays_within_budget(kind, budget):
    n, d = 140, 16
    kw = {"n_hash": 32} if kind == "dhe" else {}
    t = table_for_budget(kind, n, d, budget, **kw)
    if kind == "pep":
        assert t.target_params == min(budget, n * d) and t.num_params() == n * d  # reached by training
        return
    assert t.num_params() <= budget
    # and as close as the size knob allows: one step more would exceed the budget (or the full size)
    if kind == "full":
        assert t.dim == d or n * (t.dim + 1) > budget
    elif kind == "qr":
        assert t.buckets == n or 2 * (t.buckets + 1) * d > budget
    elif kind == "dhe":
        assert DHETable.params_for(32, (t.hidden[0] + 1,) * 2, d) > budget
    else:
        assert TTTable.params_for(t.shape, t.dim_shape, (t.ranks[0] + 1,) * 2) > budget


def test_table_for_budget_at_legcf_scale():
    n, d = 29_858 + 40_981, 128
    budget = legcf_budget(n, d)
    qr = table_for_budget("qr", n, d, budget)
    assert qr.buckets == 803 and qr.num_params() <= budget and qr.collision_free
    tt = table_for_budget("tt", n, d, budget)
    assert tt.num_params() <= budget < TTTable.params_for(tt.shape, tt.dim_shape, (tt.ranks[0] + 1,) * 2)
    assert table_for_budget("full", n, d, budget).dim == 2


@pytest.mark.parametrize("call, match", [
    (lambda: make_table("lsh", 10, 4), "unknown embedding table"),
    (lambda: table_for_budget("lsh", 10, 4, 100), "unknown embedding table"),
    (lambda: QRTable(10, 4, buckets=3, combine="max"), "unknown QR combination"),
    (lambda: QRTable(10, 3, buckets=3, combine="concat"), "even dim"),
    (lambda: QRTable(10, 4, buckets=11), "must not exceed"),
    (lambda: QRTable(10, 4, buckets=0), "positive integer"),
    (lambda: PEPTable(10, 4, granularity="field"), "unknown PEP granularity"),
    (lambda: PEPTable(10, 4, threshold_decay=-1.0), "threshold_decay"),
    (lambda: PEPTable(10, 4, search_fraction=0.0), "search_fraction"),
    (lambda: DHETable(10, 4, encoding="binary"), "unknown DHE encoding"),
    (lambda: DHETable(10, 4, n_hash=3, encoding="gaussian"), "even n_hash"),
    (lambda: DHETable(10, 4, hidden=()), "at least one hidden layer"),
    (lambda: TTTable(100, 8, shape=(3, 3, 3)), "fewer than n"),
    (lambda: TTTable(10, 8, dim_shape=(2, 2, 3)), "not dim"),
    (lambda: TTTable(10, 8, ranks=(2, 2, 2)), "must have"),
    (lambda: FullTable(0, 4), "positive integer"),
    (lambda: table_for_budget("full", 100, 4, 50), "cannot hold"),
    (lambda: table_for_budget("tt", 1000, 64, 10), "cannot fit"),
    (lambda: table_for_budget("tt", 1000, 64, 10_000, ranks=3), "chooses the TT ranks"),
    (lambda: table_lightgcn_factory("qr", 8, 2, budget="tiny"), "budget must be"),
])
def test_bad_configurations_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------- TableLightGCN

def test_table_lightgcn_checks_sizes_and_counts_storage(synth):
    adj = build_norm_adj(synth.train)
    n = synth.n_users + synth.n_items
    with pytest.raises(ValueError, match="table has"):
        TableLightGCN(adj, synth.n_users, synth.n_items, FullTable(n + 1, 8))
    with pytest.raises(ValueError, match="config.dim"):
        TableLightGCN(adj, synth.n_users, synth.n_items, FullTable(n, 8), LightGCNConfig(dim=16))
    qr = TableLightGCN(adj, synth.n_users, synth.n_items, QRTable(n, 8, buckets=12))
    assert qr.storage_bits() == 32 * 2 * 12 * 8
    users, items = qr.forward()
    assert users.shape == (synth.n_users, 8) and items.shape == (synth.n_items, 8)
    pep = TableLightGCN(adj, synth.n_users, synth.n_items, PEPTable(n, 8, target_params=500))
    nnz = pep.table.nnz()
    assert pep.storage_bits() == 32 * nnz + nnz * 3 + (n + 1) * math.ceil(math.log2(nnz + 1))  # CSR indices
    assert set(pep.loss(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5]))) == {"bpr", "reg", "table_reg"}
    full = table_lightgcn_factory("full", 8, 2)(synth, adj)
    assert full.storage_bits() == 32 * n * 8
    assert set(full.loss(torch.tensor([0]), torch.tensor([2]), torch.tensor([4]))) == {"bpr", "reg"}


def random_recall(data, k: int) -> float:
    """Expected recall@k of a uniformly random ranking of the rankable items, over users with targets."""
    target, exclude = evaluation_split(data, "test")
    n_excluded = np.asarray(sum(exclude).sum(axis=1)).ravel()
    has_target = np.asarray(target.sum(axis=1)).ravel() > 0
    return float(np.mean(np.minimum(1.0, k / (data.n_items - n_excluded[has_target]))))


CASES = {  # kind: (table kwargs, learning rate); settings chosen for fast, reliable learning on synthetic data
    "full": ({}, 0.01),
    "qr": ({"buckets": 12}, 0.05),
    "dhe": ({"n_hash": 64, "hidden": (32,)}, 0.01),
    "tt": ({"ranks": 4}, 0.01),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_table_lightgcn_learns_on_synthetic_data(synth, kind):
    kw, lr = CASES[kind]
    model = table_lightgcn_factory(kind, 16, 2, **kw)(synth, build_norm_adj(synth.train))
    res = fit(model, synth, TrainConfig(epochs=30, batch_size=512, lr=lr, eval_every=5, progress=False,
                                        select_split="test"))
    base = random_recall(synth, 20)
    assert 0.2 < base < 0.4
    assert res.best_value > base + 0.3, (kind, res.best_value, base)
    first, last = res.history[0], res.history[-1]
    assert last["loss_bpr"] < first["loss_bpr"]


def test_pep_lightgcn_switches_to_retrain_within_fit_and_selects_only_retrained_states(synth):
    n = synth.n_users + synth.n_items
    budget = int(n * 16 * 0.4)  # thresholds start at sigmoid(-3) = 0.047 (~64% non-zeros) and rise with the decay
    model = table_lightgcn_factory("pep", 16, 2, budget=budget, threshold_init=-3.0, threshold_decay=1e-2)(
        synth, build_norm_adj(synth.train))
    assert model.table.target_params == budget and not model.selectable
    res = fit(model, synth, TrainConfig(epochs=24, batch_size=512, lr=0.01, eval_every=2, progress=False,
                                        select_split="test"))
    flags = [h["selectable"] for h in res.history if "selectable" in h]
    assert flags[0] is False and flags[-1] is True and flags == sorted(flags)  # search, then retrain
    first_retrain_epoch = 2 * (flags.index(True) + 1)
    assert res.best_epoch >= first_retrain_epoch
    assert model.table.frozen and model.table.num_params() <= budget
    assert model.storage_bits() < 32 * n * 16
    assert res.best_value > random_recall(synth, 20) + 0.3
