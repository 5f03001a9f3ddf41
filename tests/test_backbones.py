"""GNN backbones (LEGCF Table 4): each equals its layer rule computed densely; LEGCF and the same-size table
run on each; the LightGCN backbone leaves the existing models unchanged."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from qlib import catalog
from qlib.graph import bipartite_adjacency, build_norm_adj, normalize_symmetric
from qlib.models import LEGCF, LEGCFConfig, NGCF, NGCFConfig, table_lightgcn_factory
from qlib.models.backbones import (BACKBONES, LightGCNBackbone, LRGCCFBackbone, NGCFBackbone, backbone_options,
                                   make_backbone)
from qlib.propagation import combine_layers, propagate
from qlib.train import seed_everything

PAPERS = Path(__file__).resolve().parents[1].parent / "shared" / "papers"


def dense(adj: torch.Tensor) -> torch.Tensor:
    return adj.to_dense()


@pytest.fixture(scope="module")
def tiny():
    users, items = np.array([0, 0, 1, 2, 2, 3]), np.array([0, 1, 1, 2, 0, 3])
    raw = bipartite_adjacency(users, items, 4, 4)
    return raw


def test_self_loop_normalisation_is_d_plus_i(tiny):
    a = tiny.toarray() + np.eye(8)
    d = a.sum(1)
    expected = a / np.sqrt(np.outer(d, d))
    np.testing.assert_allclose(normalize_symmetric(tiny, self_loops=True).toarray(), expected, rtol=1e-6)
    assert normalize_symmetric(tiny).diagonal().sum() == 0


def test_lightgcn_backbone_is_the_layer_mean(tiny):
    adj = build_norm_adj(tiny[:4, 4:])
    x = torch.randn(8, 5)
    np.testing.assert_allclose(LightGCNBackbone(5, 3)(adj, x), combine_layers(propagate(adj, x, 3), "mean"), rtol=1e-6)
    assert LightGCNBackbone(5, 3).num_params() == 0


def test_lrgccf_backbone_matches_the_dense_rule(tiny):
    adj = build_norm_adj(tiny[:4, 4:], self_loops=True)
    torch.manual_seed(0)
    net = LRGCCFBackbone(5, 2)
    x = torch.randn(8, 5)
    a = dense(adj)
    e1 = a @ x @ net.weights[0].weight.T
    e2 = a @ e1 @ net.weights[1].weight.T
    np.testing.assert_allclose(net(adj, x).detach(), torch.cat([x, e1, e2], 1).detach(), rtol=1e-5, atol=1e-6)
    assert net.out_dim == 15 and net.self_loops and net.num_params() == 2 * 25


def test_ngcf_backbone_equals_the_ngcf_model(tiny):
    adj = build_norm_adj(tiny[:4, 4:])
    torch.manual_seed(0)
    model = NGCF(adj, 4, 4, NGCFConfig(dim=6, n_layers=2, mess_dropout=0.0))
    net = NGCFBackbone(6, 2, mess_dropout=0.0)
    net.layers.load_state_dict(model.layers.state_dict())
    users, items = model()
    rep = net(adj, model.embedding)
    np.testing.assert_allclose(rep.detach(), torch.cat([users, items]).detach(), rtol=1e-6)
    assert net.out_dim == 18 and not net.self_loops


def test_ngcf_probe_switches_each_take_one_part_away(tiny):
    adj = build_norm_adj(tiny[:4, 4:])
    a = dense(adj)
    x = torch.randn(8, 6)
    torch.manual_seed(0)
    full = NGCFBackbone(6, 1, mess_dropout=0.0)
    w1, w2 = full.layers[0].w1, full.layers[0].w2
    side = a @ x

    def probe(**kw):
        net = NGCFBackbone(6, 1, **{"mess_dropout": 0.0, **kw})
        net.layers[0].w1.load_state_dict(w1.state_dict())
        if net.layers[0].w2 is not None:
            net.layers[0].w2.load_state_dict(w2.state_dict())
        return net(adj, x).detach()[:, 6:]

    both = w1(side + x) + w2(side * x)
    torch.testing.assert_close(probe(), torch.nn.functional.normalize(
        torch.nn.functional.leaky_relu(both, 0.2), dim=1).detach())
    torch.testing.assert_close(probe(normalize=False), torch.nn.functional.leaky_relu(both, 0.2).detach())
    torch.testing.assert_close(probe(leaky_slope=1.0, normalize=False), both.detach())
    torch.testing.assert_close(probe(bi_interaction=False, normalize=False),
                               torch.nn.functional.leaky_relu(w1(side + x), 0.2).detach())
    assert NGCFBackbone(6, 1, bi_interaction=False).num_params() == full.num_params() // 2


def test_backbone_options_are_checked_by_name():
    assert "bi_interaction" in backbone_options("ngcf") and backbone_options("lightgcn") == ("combine",)
    with pytest.raises(ValueError, match="has no option \\['bi_interaction'\\]"):
        make_backbone("lrgccf", 4, 2, bi_interaction=False)
    with pytest.raises(ValueError, match="has no option"):
        LEGCFConfig(backbone="lightgcn", backbone_options={"normalize": False}).validate()
    LEGCFConfig(backbone="ngcf", backbone_options={"normalize": False}).validate()


def test_make_backbone_rejects_unknown_names():
    assert set(BACKBONES) == {"lightgcn", "ngcf", "lrgccf"}
    with pytest.raises(ValueError, match="unknown backbone 'gat'"):
        make_backbone("gat", 4, 2)
    with pytest.raises(ValueError, match="unknown backbone"):
        LEGCFConfig(backbone="gat").validate()
    with pytest.raises(ValueError, match="unknown backbone"):
        table_lightgcn_factory("full", 8, 2, backbone="gat")


@pytest.mark.parametrize("backbone", ["ngcf", "lrgccf"])
def test_legcf_on_other_backbones_trains_the_backbone_and_updates_s(synth, backbone):
    seed_everything(0)
    m = LEGCF(synth, LEGCFConfig(dim=8, n_meta=6, n_layers=2, seed=0, backbone=backbone))
    users, items = m()
    assert users.shape == (synth.n_users, 24) and items.shape == (synth.n_items, 24)
    g = m.expanded_graph().to_dense()
    assert (g.diagonal() > 0).all() == (backbone == "lrgccf")   # LR-GCCF: A' + I
    loss = sum(m.loss(torch.tensor([0, 1]), torch.tensor([0, 2]), torch.tensor([3, 1])).values())
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.backbone.parameters())
    assert m.num_params() == 6 * 8 + int((m.assignment()[1] != 0).sum())       # the paper's #Param: no weights
    assert m.storage_bits() > 32 * (6 * 8 + m.backbone.num_params())
    m.train()
    twin = LEGCF(synth, m.config)
    twin.load_state_dict(m.state_dict())
    m.reassign()
    idx, val = m.assignment()
    assert m.training and int(m.n_updates) == 1
    assert ((val != 0).sum(1) <= 2).all() and (val >= 0).all()
    torch.manual_seed(123)   # a different dropout stream would change S if dropout were on during updates
    twin.reassign()
    np.testing.assert_array_equal(twin.assignment()[0], idx)
    np.testing.assert_allclose(twin.assignment()[1], val, rtol=1e-5)


@pytest.mark.parametrize("backbone", ["ngcf", "lrgccf"])
def test_update_aggregation_mean_averages_the_layer_blocks(synth, backbone):
    seed_everything(0)
    m = LEGCF(synth, LEGCFConfig(dim=8, n_meta=6, n_layers=2, seed=0, backbone=backbone))
    concat = m.update_representation()
    assert concat.shape == (synth.n_users + synth.n_items + 6, 24)
    m.config = LEGCFConfig(**{**m.config.__dict__, "update_aggregation": "mean"})
    mean = m.update_representation()
    torch.testing.assert_close(mean, (concat[:, :8] + concat[:, 8:16] + concat[:, 16:]) / 3)
    m.reassign()                                       # the update solves for the d-wide H
    idx, val = m.assignment()
    assert idx.shape[1] == 2 and ((val != 0).sum(1) <= 2).all()
    with pytest.raises(ValueError, match="unknown update_aggregation 'sum'"):
        LEGCFConfig(update_aggregation="sum").validate()


def test_legcf_lightgcn_backbone_is_unchanged(synth):
    """The default backbone is the old code path: H = mean of the propagated layers over A'."""
    seed_everything(0)
    m = LEGCF(synth, LEGCFConfig(dim=8, n_meta=6, n_layers=2, seed=0))
    ego = m.entity_embeddings()
    x0 = torch.cat([torch.from_numpy(ego), m.meta.detach()])
    h = combine_layers(propagate(m.expanded_graph(), x0, 2), "mean")
    users, items = m()
    np.testing.assert_allclose(torch.cat([users, items]).detach(), h[: synth.n_users + synth.n_items], rtol=1e-5,
                               atol=1e-7)
    assert set(m.state_dict()) == {"meta", "assign_idx", "assign_val", "anchor_init", "n_updates"}


@pytest.mark.parametrize("backbone", ["ngcf", "lrgccf"])
def test_same_size_table_on_other_backbones(synth, backbone):
    seed_everything(0)
    model = table_lightgcn_factory("full", 16, 2, budget=3 * (synth.n_users + synth.n_items),
                                   backbone=backbone)(synth, build_norm_adj(synth.train))
    assert model.table.dim == 3 and model.backbone.dim == 3
    assert (model.adj.to_dense().diagonal() > 0).all() == (backbone == "lrgccf")
    assert model.num_params() == 3 * (synth.n_users + synth.n_items)             # the table only
    assert model.storage_bits() == 32 * (model.num_params() + model.backbone.num_params())
    users, _ = model()
    assert users.shape[1] == 9


def test_catalog_table4_covers_every_printed_row():
    exps = catalog.legcf_backbone_experiments(("gowalla",))
    ours = {(e.method, e.variant) for e in exps} | {("LEGCF", "backbone=LightGCN")}   # Table 2's run
    path = PAPERS / "legcf_table4_backbones.csv"
    if not path.exists():
        pytest.skip("the paper tables are not beside the repository")
    with path.open() as f:
        printed = {(r["method"], r["variant"]) for r in csv.DictReader(f)}
    assert printed == ours


def test_full_table_factory_passes_backbone_switches_and_rejects_unknown_ones(tiny):
    class _Data:   # the factory reads n_users, n_items and train only
        n_users, n_items, train = 4, 4, tiny[:4, 4:]

    model = table_lightgcn_factory("full", 6, 2, backbone="ngcf", backbone_options={"normalize": False})(
        _Data, build_norm_adj(_Data.train))
    assert model.backbone.normalize is False and model.backbone.layers[0].w2 is not None
    with pytest.raises(ValueError, match="has no option"):
        table_lightgcn_factory("full", 6, 2, backbone="lrgccf", backbone_options={"normalize": False})
