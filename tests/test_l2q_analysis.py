"""Loss landscapes (Eq. 11), stored sizes and inference timing (Fig. 5), and the L2Q-GCN catalog."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from qlib import catalog
from qlib.graph import build_norm_adj
from qlib.landscape import loss_landscape, perturbation_grid
from qlib.l2q_analysis import roughness
from qlib.models import L2QGCN, L2QGCNConfig, LightGCN, LightGCNConfig
from qlib.resources import (StoredRepresentation, _factors, eq14_bits, inference_time, size_on_disk_mib,
                            stored_representation)
from tests.conftest import synthetic_dataset


@pytest.fixture(scope="module")
def data_adj():
    data = synthetic_dataset()
    return data, build_norm_adj(data.train)


def l2q(data_adj, **kw):
    data, adj = data_adj
    torch.manual_seed(0)
    return L2QGCN(adj, data.n_users, data.n_items, L2QGCNConfig(emb_dim=16, code_dim=16, **kw))


def test_perturbation_grid():
    p = perturbation_grid(0.5, 0.05)
    assert len(p) == 21 and p[10] == 0 and p[0] == -0.5 and p[-1] == 0.5
    with pytest.raises(ValueError, match="step"):
        perturbation_grid(0.1, 0.5)


def test_landscape_origin_is_the_training_loss(data_adj):
    model = l2q(data_adj)
    users, pos, neg = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]), torch.tensor([6, 7, 8])
    grid = loss_landscape(model, users, pos, neg, np.array([-0.2, 0.0, 0.2]), quantized=True)
    with torch.no_grad():
        expected = float(sum(model.loss(users, pos, neg).values()))
    assert grid.shape == (3, 3)
    assert grid[1, 1] == pytest.approx(expected, rel=1e-5)
    assert model.quantize.enabled  # restored
    full = loss_landscape(model, users, pos, neg, np.array([-0.2, 0.0, 0.2]), quantized=False)
    assert not np.allclose(full, grid)


def test_roughness_zero_for_a_plane_positive_for_bumps():
    x, y = np.meshgrid(np.arange(5.0), np.arange(5.0))
    assert roughness(1 + x + 2 * y) == pytest.approx(0.0)
    assert roughness(1 + (x + y) % 2) > 0.1


@pytest.mark.parametrize("variant,kind", [("end", "codes"), ("anl", "codes+scales")])
def test_stored_size_matches_eq14(data_adj, variant, kind):
    model = l2q(data_adj, variant=variant)
    rep = stored_representation(model)
    assert rep.kind == kind and rep.codes.shape == (model.n_users + model.n_items, 3, 16)
    assert set(np.unique(rep.codes)) <= {-1, 1}
    n = model.n_users + model.n_items
    bits = eq14_bits(n, 16, 2, kind)
    assert bits == model.storage_bits()
    header = 128 * (2 if kind == "codes+scales" else 1)  # one .npy header per array
    assert size_on_disk_mib(rep) * 2**20 == pytest.approx(bits / 8 + header, abs=64)


def test_fp32_size_and_factors_give_model_scores(data_adj):
    data, adj = data_adj
    lg = LightGCN(adj, data.n_users, data.n_items, LightGCNConfig(dim=8, n_layers=2))
    rep = stored_representation(lg)
    assert rep.kind == "fp32" and size_on_disk_mib(rep) * 2**20 == pytest.approx(32 * lg.embedding.numel() / 8 + 128)
    model = l2q(data_adj, variant="end")
    users, items = _factors(stored_representation(model))
    assert users.dtype == np.int8
    with torch.no_grad():
        scores = model.scorer()(torch.arange(5))
    # the scorer ranks by the mean of the codes, the stored form by their sum: same order, (L+1)^2 apart
    np.testing.assert_allclose(scores.numpy() * 9, users[:5].astype(np.int32) @ items.astype(np.int32).T, atol=1e-3)


@pytest.mark.parametrize("setting", ["paper", "blas"])
def test_inference_time_scales_a_sample(setting):
    rng = np.random.default_rng(0)
    rep = StoredRepresentation(40, codes=np.where(rng.standard_normal((90, 3, 8)) > 0, 1, -1).astype(np.int8))
    out = inference_time(rep, setting, user_sample=10, block=4, k=5)
    assert out["users_measured"] == 10 and out["n_users"] == 40 and out["n_items"] == 50
    assert out["seconds"] == pytest.approx(out["measured_s"] * 4)
    with pytest.raises(ValueError, match="setting"):
        inference_time(rep, "gpu")


def test_catalog_l2q_settings():
    t2 = {(e.dataset, e.method): e for e in catalog.l2q_experiments(("ml-1m", "gowalla", "yelp2018"))}
    assert t2[("ml-1m", "L2Q-GCN_end")].model_config.code_dim == 256
    assert t2[("gowalla", "L2Q-GCN_end")].model_config.code_dim == 64
    assert t2[("yelp2018", "L2Q-GCN_anl")].model_config.code_dim == 256
    assert ("Appendix Table 5", "d=64") in t2[("gowalla", "L2Q-GCN_end")].also
    ab = {(e.method, e.variant): e.model_config.resolved() for e in catalog.l2q_ablation_experiments(("ml-1m",))}
    assert ab[("L2Q-GCN_end", "w/o TQ")].layerwise is False
    assert ab[("L2Q-GCN_end", "w/o L_bpr")].use_bpr is False
    assert ab[("L2Q-GCN_anl", "w/o RAF")].rescale == "none" and ab[("L2Q-GCN_anl", "w/o RAF")].anneal
    assert ab[("L2Q-GCN_anl", "w/in LF")].rescale == "learned"
    assert ab[("L2Q-GCN_anl", "w/o AT")].anneal is False
    dims = [e.variant for e in catalog.l2q_dim_experiments(("gowalla",), variants=("end",))]
    assert dims == ["d=128", "d=256", "d=512"]   # d=64 is the Table 2 run
    layers = [e.model_config.n_layers for e in catalog.l2q_layer_experiments(("gowalla",), variants=("anl",))]
    assert layers == [1, 3, 4]


def test_compiled_and_eager_l2q_losses_agree(data_adj):
    model = l2q(data_adj, variant="anl")
    users, pos, neg = torch.tensor([0, 1, 2, 3]), torch.tensor([3, 4, 5, 9]), torch.tensor([6, 7, 8, 1])
    eager = {k: float(v.detach()) for k, v in model.loss(users, pos, neg).items()}
    model.compile_loss()
    compiled = {k: float(v.detach()) for k, v in model.loss(users, pos, neg).items()}
    assert eager.keys() == compiled.keys() == {"bpr", "rec", "reg"}
    for k in eager:
        assert compiled[k] == pytest.approx(eager[k], rel=1e-4)


@pytest.mark.parametrize("variant", ["hard", "soft"])
def test_hashgnn_stored_form_matches_its_storage_bits_and_scores(data_adj, variant):
    """Fig. 5(a)'s HashGNN rows: one code per node (hard), or the continuous table plus a selector bit per
    node (soft); the stored form ranks exactly as the model's scorer, and its file is the model's bits."""
    from qlib.models import HashGNN, HashGNNConfig

    data, adj = data_adj
    torch.manual_seed(0)
    model = HashGNN(adj, data.n_users, data.n_items, HashGNNConfig(variant=variant, emb_dim=16, hidden_dim=16,
                                                                   code_dim=16, n_layers=2, soft_code_prob=0.5))
    rep = stored_representation(model)
    n = model.n_users + model.n_items
    if variant == "hard":
        assert rep.kind == "codes" and rep.codes.shape == (n, 1, 16)
        assert eq14_bits(n, 16, 2, rep.kind, n_codes=1) == model.storage_bits() == n * 16
        header = 128
    else:
        assert rep.kind == "fp32+selector" and rep.table.shape == (n, 16) and 0 < rep.selector.sum() < n
        assert eq14_bits(n, 16, 2, rep.kind) == 32 * n * 16 + n
        header = 256
    assert size_on_disk_mib(rep) * 2**20 == pytest.approx(eq14_bits(n, 16, 2, rep.kind, 1) / 8 + header, abs=64)
    users, items = _factors(rep)
    with torch.no_grad():
        scores = model.scorer()(torch.arange(5))
    np.testing.assert_allclose(scores.numpy(), users[:5].astype(np.float32) @ items.astype(np.float32).T,
                               rtol=1e-5, atol=1e-5)


def test_selected_and_last_reads_the_selected_and_the_final_evaluation():
    from qlib.l2q_analysis import selected_and_last

    run = {"method": "L2Q-GCN_anl", "variant": "w/o AT", "dataset": "toy", "best_epoch": 10,
           "metrics": {"recall@20": 0.2},
           "history": [{"epoch": 5, "loss_bpr": 0.3},  # a training-only row, no evaluation
                       {"epoch": 10, "test_recall@20": 0.2}, {"epoch": 20, "test_recall@20": 0.15}]}
    out = selected_and_last(run)
    assert (out["best_epoch"], out["selected"], out["last_epoch"], out["last"]) == (10, 0.2, 20, 0.15)
    assert abs(out["decline_after_best"] - 0.25) < 1e-12
    with pytest.raises(ValueError, match="no test recall@20"):
        selected_and_last({**run, "history": [{"epoch": 5}]})
