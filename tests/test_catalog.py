"""Every experiment in the catalog builds its model and computes a finite loss (on synthetic data)."""
from __future__ import annotations

import math

import pytest
import torch

from qlib import catalog
from qlib.graph import build_norm_adj
from qlib.recipes import FAST_EPOCHS
from qlib.train import seed_everything
from tests.conftest import synthetic_dataset

ALL = (catalog.lightgcn_paper_experiments(("gowalla",), ("paper", "clean"))
       + catalog.l2q_lightgcn_experiments(("ml-1m",)) + catalog.l2q_experiments(("ml-1m",))
       + catalog.l2q_baseline_experiments(("ml-1m",)) + catalog.l2q_ablation_experiments(("ml-1m",))
       + catalog.l2q_layer_experiments(("ml-1m",)) + catalog.l2q_dim_experiments(("ml-1m",), dims=(64,))
       + catalog.legcf_table2_experiments(("gowalla",)) + catalog.legcf_ablation_experiments(("gowalla",))
       + catalog.legcf_backbone_experiments(("gowalla",)))


@pytest.fixture(scope="module")
def data_adj():
    data = synthetic_dataset()
    return data, build_norm_adj(data.train)


@pytest.mark.parametrize("exp", ALL, ids=[f"{e.paper}-{e.table}-{e.method}-{e.variant}-{e.protocol}" for e in ALL])
def test_experiment_builds_and_has_a_finite_loss(exp, data_adj):
    data, adj = data_adj
    seed_everything(0)
    model = exp.model_factory(data, adj)
    model.on_epoch_start(0, exp.train.epochs)
    users, pos, neg = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 5, 9, 2]), torch.tensor([7, 3, 1, 8])
    parts = model.loss(users, pos, neg)
    total = sum(parts.values())
    assert parts and math.isfinite(float(total.detach()))
    total.backward()
    assert model.storage_bits() > 0 and model.num_params() >= 0
    scores = model.scorer()(torch.tensor([0, 1]))
    assert scores.shape == (2, data.n_items) and torch.isfinite(scores).all()


def test_labels_match_the_reference_tables():
    """Every experiment's (paper, table, method, variant) is a cell of the vendored paper tables."""
    from qlib.reference import load_reference

    ref = load_reference()
    cells = set(zip(ref.paper, ref.table, ref.method, ref.variant))
    for exp in ALL:
        if exp.paper == "LightGCN":
            continue
        assert (exp.paper, exp.table, exp.method, exp.variant) in cells, exp.label()
        for table, variant in exp.also:
            assert (exp.paper, table, exp.method, variant) in cells, (exp.label(), table, variant)


def test_recipes():
    l2q = catalog.l2q_experiments(("ml-1m",))[0].train
    assert (l2q.lr, l2q.epochs, l2q.select_metric) == (catalog.L2Q_LR, catalog.L2Q_EPOCHS, "recall@20")
    legcf = catalog.legcf_table2_experiments(("gowalla",))[0]
    assert (legcf.train.sampler, legcf.train.n_neg, legcf.train.grad_clip, legcf.train.select_metric) == (
        "legcf", 5, 3.0, "ndcg@5")
    assert legcf.protocol == "legcf" and legcf.model_config.anchor_weight == 0.5
    assert {e.dataset for e in catalog.legcf_table2_experiments()} == {"gowalla", "yelp2020", "amazon-book"}


def test_longer_lightgcn_schedule_is_its_own_variant():
    default, = catalog.lightgcn_paper_experiments(("gowalla",))
    long, = catalog.lightgcn_paper_experiments(("gowalla",), epochs=800)
    same, = catalog.lightgcn_paper_experiments(("gowalla",), epochs=FAST_EPOCHS)
    assert default.variant == same.variant == "" and long.variant == "epochs-800"
    assert long.train.epochs == 800 and default.train.epochs == FAST_EPOCHS
    assert {k: v for k, v in vars(long.train).items() if k != "epochs"} == \
        {k: v for k, v in vars(default.train).items() if k != "epochs"}


@pytest.mark.parametrize("epochs", [0, -5, 2.5])
def test_lightgcn_schedule_length_must_be_a_positive_whole_number(epochs):
    with pytest.raises(ValueError, match="epochs must be a positive whole number"):
        catalog.lightgcn_paper_experiments(("gowalla",), epochs=epochs)


def test_ngcf_readings_are_table4_ngcf_runs_outside_the_paper_cells(data_adj):
    """The readings differ from Table 4's LEGCF-on-NGCF run only in the named settings, build, and never
    carry a label of a printed cell (so the report cannot count them as a reproduction)."""
    from qlib.reference import load_reference

    ref = load_reference()
    cells = set(zip(ref.paper, ref.table, ref.method, ref.variant))
    base, = [e for e in catalog.legcf_backbone_experiments(("gowalla",))
             if e.method == "LEGCF" and e.variant == "backbone=NGCF"]
    readings = catalog.legcf_ngcf_reading_experiments(("gowalla",))
    assert [e.variant for e in readings] == list(catalog.LEGCF_NGCF_READINGS)
    data, adj = data_adj
    for exp in readings:
        assert (exp.paper, exp.table, exp.method, exp.variant) not in cells and not exp.also
        assert vars(exp.train) == vars(base.train)
        changed = {k for k, v in vars(exp.model_config).items() if v != getattr(base.model_config, k)}
        assert changed == set(catalog.LEGCF_NGCF_READINGS[exp.variant])
        model = exp.model_factory(data, adj)
        assert model.config.update_aggregation == "mean"
        assert model.backbone.normalize is (exp.model_config.backbone_options.get("normalize", True))
