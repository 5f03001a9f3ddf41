"""LEGCF: METIS partition, initialisation (Sec. 3.4), pseudo-inverse update (Eqs. 14-16), A' (Eqs. 5-7),
and the model under the shared trainer. Tiny synthetic data only."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from qlib.assignment import (
    assignment_matrix,
    expanded_adjacency,
    init_assignment,
    metis_partition,
    update_assignment,
)
from qlib.graph import bipartite_adjacency
from qlib.metrics import evaluate
from qlib.models import LEGCF, LEGCFConfig
from qlib.models.legcf import legcf_factory
from qlib.propagation import propagate
from qlib.train import TrainConfig, evaluation_split, fit, seed_everything

C, D = 8, 16


def make(data, **kw) -> LEGCF:
    seed_everything(0)
    return LEGCF(data, LEGCFConfig(dim=D, n_meta=C, n_layers=2, seed=0, **kw))


def dense_s(indices: np.ndarray, values: np.ndarray, c: int) -> np.ndarray:
    s = np.zeros((indices.shape[0], c), dtype=np.float64)
    np.put_along_axis(s, indices, values, axis=1)
    return s


# ---------------------------------------------------------------------------------------- partition
def test_metis_partition_covers_all_nodes_and_is_cached(synth, tmp_path):
    n = synth.n_users + synth.n_items
    parts = metis_partition(synth.train, synth.n_users, synth.n_items, C, seed=1, cache_dir=tmp_path)
    assert parts.shape == (n,) and parts.dtype == np.int64
    assert parts.min() >= 0 and parts.max() < C and len(np.unique(parts)) <= C
    assert len(np.unique(parts)) > 1
    files = list(tmp_path.glob("metis_*.npy"))
    assert len(files) == 1
    again = metis_partition(synth.train, synth.n_users, synth.n_items, C, seed=1, cache_dir=tmp_path)
    np.testing.assert_array_equal(parts, again)
    np.save(files[0], np.full(3, 99))  # a corrupt cache entry is ignored and rewritten
    np.testing.assert_array_equal(parts, metis_partition(synth.train, synth.n_users, synth.n_items, C,
                                                         seed=1, cache_dir=tmp_path))
    # METIS keeps connected communities together: most edges stay inside a part
    coo = sp.coo_matrix(synth.train)
    inside = (parts[coo.row] == parts[synth.n_users + coo.col]).mean()
    assert inside > 1.0 / C


def test_metis_partition_degenerate_cases(synth):
    n = synth.n_users + synth.n_items
    assert (metis_partition(synth.train, synth.n_users, synth.n_items, 1) == 0).all()
    np.testing.assert_array_equal(metis_partition(synth.train, synth.n_users, synth.n_items, n + 5), np.arange(n))
    empty = sp.csr_matrix((3, 4), dtype=np.float32)
    parts = metis_partition(empty, 3, 4, 2)
    assert parts.shape == (7,) and set(parts.tolist()) <= {0, 1}
    with pytest.raises(ValueError, match="n_parts"):
        metis_partition(synth.train, synth.n_users, synth.n_items, 0)


# ---------------------------------------------------------------------------------------- init
@pytest.mark.parametrize("replace", [False, True])
def test_init_rows_have_t_distinct_ids_and_the_anchor_weight(replace):
    n, c, t, w = 500, 20, 4, 0.7
    parts = np.arange(n) % c
    idx, val = init_assignment(parts, n, c, t, w, seed=3, method="metis", replace=replace)
    assert idx.shape == val.shape == (n, t) and idx.dtype == np.int64 and val.dtype == np.float32
    assert (np.sort(idx, 1)[:, 1:] != np.sort(idx, 1)[:, :-1]).all()  # distinct per row
    np.testing.assert_array_equal(idx[:, 0], parts)                       # anchor = METIS part
    np.testing.assert_allclose(val[:, 0], w)
    other = (1 - w) / (t - 1)
    assert np.isin(val[:, 1:], [0.0, np.float32(other)]).all()
    if replace:  # the paper's draws with replacement collapse sometimes: fewer non-zeros, row sum < 1
        assert (val[:, 1:] == 0).any() and (val.sum(1) <= 1 + 1e-6).all()
    else:        # the code's draws without replacement: rows sum to 1
        np.testing.assert_allclose(val.sum(1), 1.0, rtol=1e-6)
    # the non-anchor ids are spread over the other meta-embeddings
    assert len(np.unique(idx[:, 1:])) == c


def test_random_init_and_bad_arguments():
    idx, val = init_assignment(None, 300, 10, 2, 0.9, seed=0, method="random")
    assert len(np.unique(idx[:, 0])) == 10 and (idx[:, 0] != idx[:, 1]).all()
    np.testing.assert_allclose(val, np.tile([0.9, 0.1], (300, 1)), rtol=1e-6)
    with pytest.raises(ValueError, match="t "):
        init_assignment(None, 5, 3, 4, 0.9, method="random")
    with pytest.raises(ValueError, match="anchor_weight"):
        init_assignment(None, 5, 3, 2, 1.5, method="random")
    with pytest.raises(ValueError, match="partition"):
        init_assignment(None, 5, 3, 2, 0.5, method="metis")
    with pytest.raises(ValueError, match="unknown init"):
        init_assignment(None, 5, 3, 2, 0.5, method="hash")


# ---------------------------------------------------------------------------------------- update
def test_update_equals_dense_formula_and_keeps_t_per_row():
    g = torch.Generator().manual_seed(0)
    h_full, h_meta = torch.randn(37, 6, generator=g, dtype=torch.float64), torch.randn(11, 6, generator=g, dtype=torch.float64)
    t = 3
    idx, val = update_assignment(h_full, h_meta, t, batch_rows=5)  # 8 row blocks (Eq. 16)
    s = (h_full @ torch.linalg.pinv(h_meta)).numpy()               # Eq. 14 in one piece
    top = np.argsort(-s, axis=1)[:, :t]                            # Eq. 15: the t largest values
    np.testing.assert_array_equal(idx.numpy(), top)
    np.testing.assert_allclose(val.numpy(), np.take_along_axis(s, top, 1), rtol=1e-10)
    assert ((val != 0).sum(1) == t).all()
    assert (val[:, :-1] >= val[:, 1:]).all()  # sorted: column 0 is the new anchor
    # Eq. 10: when H_full = S H_meta holds exactly for a t-sparse S and H_meta has full row rank, it is recovered
    h_meta = torch.randn(5, 8, generator=g, dtype=torch.float64)
    s_true = torch.zeros(9, 5, dtype=torch.float64)
    s_true[torch.arange(9), torch.arange(9) % 5] = 0.8
    s_true[torch.arange(9), (torch.arange(9) + 1) % 5] = 0.3
    idx, val = update_assignment(s_true @ h_meta, h_meta, 2)
    np.testing.assert_allclose(dense_s(idx.numpy(), val.numpy(), 5), s_true.numpy(), atol=1e-10)
    with pytest.raises(ValueError, match="t must be"):
        update_assignment(h_full, torch.randn(2, 6, dtype=torch.float64), 3)


# ---------------------------------------------------------------------------------------- A'
def test_expanded_adjacency_is_symmetric_normalised_and_weighted():
    a = bipartite_adjacency(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 0]), 3, 2)  # N = 5
    idx = np.array([[0, 1], [1, 2], [2, 0], [0, 2], [1, 0]])
    val = np.array([[0.9, 0.1], [0.6, 0.4], [0.5, 0.5], [0.7, 0.3], [0.8, 0.2]], dtype=np.float32)
    g = expanded_adjacency(a, idx, val, 3).to_dense().numpy()
    assert g.shape == (8, 8)
    np.testing.assert_allclose(g, g.T, atol=1e-7)
    big = np.zeros((8, 8))
    big[:5, :5] = a.toarray()
    big[:5, 5:] = dense_s(idx, val, 3)
    big[5:, :5] = big[:5, 5:].T
    d = big.sum(1) ** -0.5
    np.testing.assert_allclose(g, d[:, None] * big * d[None, :], rtol=1e-6)  # S block carries the weights
    assert np.abs(g[5:, 5:]).max() == 0
    with pytest.raises(ValueError, match="non-negative"):
        expanded_adjacency(a, idx, -val, 3)
    assert assignment_matrix(idx, np.where(val > 0.5, val, 0), 3).nnz == 4  # zero weights dropped


def test_forward_propagates_over_expanded_graph(synth):
    m = make(synth)
    n = synth.n_users + synth.n_items
    s = torch.from_numpy(dense_s(*m.assignment(), C)).float()
    torch.testing.assert_close(torch.from_numpy(m.entity_embeddings()), s @ m.meta.detach())  # Eq. 1
    x0 = torch.cat([s @ m.meta.detach(), m.meta.detach()])                                     # Eq. 6
    layers = propagate(m.expanded_graph(), x0, 2)
    h = sum(layers) / 3                                                                         # Eq. 8
    u, i = m.forward()
    torch.testing.assert_close(torch.cat([u, i]).detach(), h[:n], rtol=1e-5, atol=1e-6)        # Eq. 9


# ---------------------------------------------------------------------------------------- model
def test_config_errors(synth):
    with pytest.raises(ValueError, match="t "):
        make(synth, t=C + 1)
    with pytest.raises(ValueError, match="unknown init"):
        make(synth, init="hash")
    with pytest.raises(ValueError, match="adj_block"):
        make(synth, adj_block="weird")
    with pytest.raises(ValueError, match="update_every"):
        make(synth, update_every=0)


def test_num_params_and_storage(synth):
    m = make(synth)
    n = synth.n_users + synth.n_items
    assert m.num_params() == C * D + n * 2
    assert m.storage_bits() == 32 * C * D + n * 2 * (32 + 3)  # 3-bit ids for c = 8
    mb = make(synth, bias=True)
    assert mb.num_params() == C * D + n * 2 and mb.num_params(include_bias=True) == C * D + n * 2 + n + 1


def test_update_schedule_and_selectability(synth):
    m = make(synth, pretrain_epochs=2, update_every=2)
    before = m.assignment()
    for e in range(2):
        m.on_epoch_start(e, 10)
        assert int(m.n_updates) == 0 and not m.selectable
    m.on_epoch_start(2, 10)
    assert int(m.n_updates) == 1 and m.selectable
    after = m.assignment()
    assert not np.array_equal(before[1], after[1])
    m.on_epoch_start(3, 10)
    assert int(m.n_updates) == 1
    m.on_epoch_start(4, 10)
    assert int(m.n_updates) == 2
    off = make(synth, update_assignment=False)
    off.on_epoch_start(9, 10)
    assert int(off.n_updates) == 0 and off.selectable


def random_recall(data, k: int = 20, reps: int = 5) -> float:
    target, exclude = evaluation_split(data, "test")
    gens = [torch.Generator().manual_seed(r) for r in range(reps)]
    return float(np.mean([evaluate(lambda u, g=g: torch.rand(len(u), data.n_items, generator=g), target, exclude,
                                   ks=(k,))[f"recall@{k}"] for g in gens]))


@pytest.mark.parametrize("kw", [{}, {"tanh_compose": True, "bias": True, "adj_block": "normalized",
                                     "meta_init": "normal", "anchor_weight": 0.9}])
def test_legcf_trains_with_shared_trainer_and_beats_random(synth, kw):
    m = make(synth, **kw)
    cfg = TrainConfig(epochs=6, batch_size=512, lr=0.05, eval_every=2, sampler="legcf", n_neg=5, grad_clip=3,
                      progress=False, select_split="test")
    _, init_val = m.assignment()
    res = fit(m, synth, cfg)
    # P = 3 (half the run): the update of epoch 3 makes the evaluations after epochs 4 and 6 selectable
    assert [h["selectable"] for h in res.history if "selectable" in h] == [False, True, True]
    assert res.best_epoch in (4, 6)
    assert int(m.n_updates) >= 1
    _, val = m.assignment()
    assert not np.array_equal(val, init_val)
    assert ((val != 0).sum(1) == 2).all() and (val >= 0).all()
    assert res.best_value > random_recall(synth) + 0.1, res.best_value


def test_assignment_indices_change_after_training_updates(synth):
    m = make(synth, pretrain_epochs=2)
    init_idx, _ = m.assignment()
    fit(m, synth, TrainConfig(epochs=5, batch_size=512, lr=0.05, eval_every=5, sampler="legcf", n_neg=5,
                              progress=False, select_split="test"))
    idx, _ = m.assignment()
    assert (idx != init_idx).any(axis=1).mean() > 0.05  # entities re-select meta-embeddings
    np.testing.assert_array_equal(m.initial_anchors(), init_idx[:, 0])


def test_state_dict_round_trip_restores_assignment_and_scores(synth):
    m = make(synth, pretrain_epochs=0)
    users = torch.arange(synth.n_users)
    state = copy.deepcopy(m.state_dict())
    assert {"assign_idx", "assign_val", "n_updates", "anchor_init", "meta"} <= set(state)
    scores0 = m.scorer()(users)
    with torch.no_grad():
        m.meta.mul_(1.5)
    m.on_epoch_start(0, 4)  # an update: S and A' change
    assert not torch.allclose(m.scorer()(users), scores0)
    m.load_state_dict(state)
    np.testing.assert_array_equal(m.assignment()[0], state["assign_idx"].numpy())
    np.testing.assert_array_equal(m.assignment()[1], state["assign_val"].numpy())
    assert int(m.n_updates) == 0
    torch.testing.assert_close(m.scorer()(users), scores0)  # A' rebuilt from the restored S
    fresh = LEGCF(synth, LEGCFConfig(dim=D, n_meta=C, n_layers=2, seed=5, init="random"))
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.scorer()(users), scores0)


def test_factory_builds_on_adjacency_device(synth):
    from qlib.graph import build_norm_adj
    seed_everything(0)
    model = legcf_factory(LEGCFConfig(dim=D, n_meta=C, n_layers=1, seed=0))(synth, build_norm_adj(synth.train))
    assert isinstance(model, LEGCF) and model.meta.device.type == "cpu"
    with pytest.raises(ValueError, match="nodes"):
        legcf_factory(LEGCFConfig(dim=D, n_meta=C))(synth, torch.eye(3).to_sparse_csr())


@pytest.mark.parametrize("meta_init", ["xavier", "normal"])
def test_meta_init_gain_scales_the_same_initial_codebook(synth, meta_init):
    base = make(synth, meta_init=meta_init).meta.detach()
    scaled = make(synth, meta_init=meta_init, meta_init_gain=0.1).meta.detach()
    torch.testing.assert_close(scaled, 0.1 * base)
    with pytest.raises(ValueError, match="meta_init_gain must be > 0"):
        make(synth, meta_init_gain=0.0)
