"""LEGCF Fig. 2 snapshots and Fig. 4 sensitivity sweeps (qlib.legcf_analysis). Tiny synthetic data only."""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import qlib.legcf_analysis as la
import qlib.record as record_mod
from qlib.catalog import legcf_config
from qlib.experiment import Experiment, _plain
from qlib.graph import build_norm_adj
from qlib.metrics import evaluate
from qlib.models import LEGCF, LEGCFConfig, LightGCN, LightGCNConfig
from qlib.models.legcf import legcf_factory
from qlib.recipes import get_profile
from qlib.train import TrainConfig, evaluation_split, fit, seed_everything
from tests.conftest import synthetic_dataset

TRAIN = TrainConfig(epochs=4, batch_size=512, lr=0.05, eval_every=1, sampler="legcf", n_neg=2, progress=False)
MODEL = LEGCFConfig(dim=8, n_meta=6, t=2, n_layers=1)


def _experiment() -> Experiment:
    cfg = replace(MODEL)
    return Experiment(paper="LEGCF", table="Table 2", method="LEGCF", dataset="gowalla", protocol="legcf",
                      model_factory=legcf_factory(cfg), model_config=cfg, train=TRAIN, eval_ks=(5, 20))


@pytest.fixture
def synthetic_loader(monkeypatch):
    calls = []

    def load(name, protocol, seed, **kw):
        calls.append((name, protocol, seed))
        return synthetic_dataset(protocol="clean")

    monkeypatch.setattr(la, "load_dataset", load)
    return calls


@pytest.fixture
def snapshots(synthetic_loader):
    exp = _experiment()
    out = la.training_snapshots(exp, profile="quick", seed=3, n_meta=3, per_meta=10, write=False)
    return exp, out


# ------------------------------------------------------------------------------------------- Figure 2
def test_training_snapshots_shapes_groups_and_metrics(snapshots, synthetic_loader):
    exp, r = snapshots
    assert synthetic_loader == [("gowalla-mini", "legcf", 3)]
    assert (r["paper"], r["table"], r["method"], r["variant"], r["protocol"]) == ("LEGCF", "Figure 2", "LEGCF", "", "legcf")
    assert r["dataset"] == "gowalla-mini" and r["seed"] == 3 and r["epochs"] == 4
    record_mod.validate_record(r)
    assert exp.model_config.pretrain_epochs is None  # the experiment's config is not modified

    snaps = r["snapshots"]
    assert [s["stage"] for s in snaps] == ["init", "pretrain", "update"]
    assert [s["epoch"] for s in snaps[:2]] == [0, 2] and 2 < snaps[2]["epoch"] <= 4
    assert [s["n_updates"] for s in snaps] == [0, 0, snaps[2]["n_updates"]] and snaps[2]["n_updates"] >= 1
    meta = snaps[0]["meta_ids"]
    assert len(meta) == 3 and len(set(meta)) == 3 and all(0 <= m < MODEL.n_meta for m in meta)
    n_nodes = 60 + 80
    for s in snaps:
        assert s["meta_ids"] == meta  # the same sampled meta-embeddings in every panel
        ids, groups, anchors = (np.array(s[k]) for k in ("entity_ids", "entity_group", "entity_anchor"))
        assert len(ids) == len(groups) == len(anchors) == len(s["entity_xy"]) == len(s["entity_anchor_init"])
        assert len(set(ids.tolist())) == len(ids) and ids.min() >= 0 and ids.max() < n_nodes
        np.testing.assert_array_equal(groups, anchors)  # grouped by the anchor of this panel
        for m, size in zip(meta, s["group_sizes"]):
            k = int((groups == m).sum())
            assert 1 <= k <= 10 and k == min(10, size)  # non-empty, up to per_meta members
        xy = np.array(s["meta_xy"] + s["entity_xy"])
        assert xy.shape == (len(meta) + len(ids), 2)
        assert np.isfinite(xy).all() and np.abs(xy).max() == pytest.approx(1.0)
        assert all(math.isfinite(v) for v in s["test_metrics"].values())
    # S is fixed during pre-training: (a) and (b) group the same entities
    assert snaps[0]["entity_ids"] == snaps[1]["entity_ids"]
    assert snaps[0]["entity_anchor_init"] == snaps[1]["entity_anchor"]
    # the update changed the assignment between (b) and (c)
    assert r["metrics"]["anchor_changed_frac"] > 0
    assert snaps[1]["entity_anchor_weight"] != snaps[2]["entity_anchor_weight"]

    for stage in la.SNAPSHOT_STAGES:
        for name in ("ndcg@20", "recall@20"):
            v = r["metrics"][f"{name}_{stage}"]
            assert math.isfinite(v) and 0.0 <= v <= 1.0
            assert v == snaps[la.SNAPSHOT_STAGES.index(stage)]["test_metrics"][name]
    # trained panels rank far better than the untrained one on the clustered synthetic data
    assert r["metrics"]["recall@20_update"] > r["metrics"]["recall@20_init"]
    assert {row["phase"] for row in r["history"]} == {"pretrain", "update"}
    assert r["config"]["pretrain_epochs"] == 2 and r["config"]["phase2_train"]["epochs"] == 2
    json.dumps(r)  # plain JSON


def test_pretrain_snapshot_is_the_single_runs_epoch_p(snapshots, synthetic_loader):
    """Phase 1 replays the first P epochs of one run exactly (same lr schedule and triples)."""
    _, r = snapshots
    data = synthetic_dataset(protocol="clean")
    cfg = get_profile("quick").apply(replace(TRAIN, seed=3, eval_ks=(5, 20), select_split="valid"))
    seed_everything(3)
    model = legcf_factory(replace(MODEL))(data, build_norm_adj(data.train))
    seen = {}

    def on_eval(row):
        if row["epoch"] == 2:
            target, exclude = evaluation_split(data, "test")
            seen.update(evaluate(model.scorer(), target, exclude, (20,)))

    fit(model, data, replace(cfg, eval_every=2), on_eval=on_eval)
    assert int(model.n_updates) >= 1  # the single run did update after epoch P
    assert seen["recall@20"] == pytest.approx(r["metrics"]["recall@20_pretrain"], abs=1e-9)
    assert seen["ndcg@20"] == pytest.approx(r["metrics"]["ndcg@20_pretrain"], abs=1e-9)


def test_training_snapshots_initial_grouping_and_write(synthetic_loader, monkeypatch, tmp_path):
    monkeypatch.setattr(record_mod, "RESULTS_ROOT", tmp_path)
    r = la.training_snapshots(_experiment(), profile="smoke", seed=1, n_meta=2, per_meta=5, group_by="initial")
    assert r["epochs"] == 2 and r["config"]["pretrain_epochs"] == 1
    for s in r["snapshots"]:
        np.testing.assert_array_equal(s["entity_group"], s["entity_anchor_init"])
    written = json.loads(Path(r["_path"]).read_text())
    assert written["table"] == "Figure 2" and written["profile"] == "smoke" and "provenance" in written
    assert len(written["snapshots"]) == 3


def test_training_snapshots_rejects_non_legcf_or_no_update(synthetic_loader):
    exp = _experiment()
    off = replace(MODEL, update_assignment=False)
    with pytest.raises(ValueError, match="update"):
        la.training_snapshots(replace(exp, model_factory=legcf_factory(off), model_config=off), write=False)
    with pytest.raises(ValueError, match="group_by"):
        la.training_snapshots(exp, write=False, group_by="final")
    gcn = lambda data, adj: LightGCN(adj, data.n_users, data.n_items, LightGCNConfig(dim=4, n_layers=1))
    with pytest.raises(TypeError, match="LEGCF"):
        la.training_snapshots(replace(exp, model_factory=gcn), write=False)


# ------------------------------------------------------------------------------------------- Figure 4
DEFAULT_FIELDS = {"t": 2, "update_every": 1, "anchor_weight": 0.5, "n_meta": 500}


def test_sensitivity_experiments_grid():
    exps = la.sensitivity_experiments("gowalla", epochs=7)
    assert len(exps) == 16
    variants = [e.variant for e in exps]
    assert len(set(variants)) == 16
    assert not {"t=2", "m=1", "w*=0.5", "c=500"} & set(variants)  # the Table 2 run, not duplicated
    assert {"t=1", "t=5", "m=10", "w*=0.7", "w*=0.9", "c=100", "c=10000"} <= set(variants)
    fields = {"t": "t", "m": "update_every", "w*": "anchor_weight", "c": "n_meta"}
    default = legcf_config("gowalla")
    for e in exps:
        assert (e.paper, e.table, e.method, e.protocol, e.dataset) == ("LEGCF", "Figure 4", "LEGCF", "legcf", "gowalla")
        assert e.train.epochs == 7 and 20 in e.eval_ks
        label, value = e.variant.split("=")
        field = fields[label]
        assert float(getattr(e.model_config, field)) == pytest.approx(float(value))
        assert replace(e.model_config, **{field: getattr(default, field)}) == default  # one change only
        assert e.extra == {"sweep_parameter": label, "sweep_value": getattr(e.model_config, field)}
    assert sum(v.startswith("w*=") for v in variants) == 4


def test_sensitivity_experiments_dataset_default_and_factory(synth):
    exps = la.sensitivity_experiments("yelp2020")
    variants = {e.variant for e in exps}
    assert len(exps) == 16 and "w*=0.6" not in variants and "w*=0.5" in variants  # Yelp2020's w* is 0.6
    assert all(e.model_config.n_layers == 4 for e in exps)
    assert len(la.sensitivity_experiments(("gowalla", "amazon-book"))) == 32
    m5 = next(e for e in la.sensitivity_experiments("gowalla") if e.variant == "m=5")
    small = replace(m5.model_config, dim=4, n_meta=6, n_layers=1)
    model = legcf_factory(small)(synth, build_norm_adj(synth.train))
    assert isinstance(model, LEGCF) and model.config.update_every == 5


def _rec(table, variant, seed, ndcg, recall, method="LEGCF", epochs=100, dataset="gowalla-mini"):
    return {"paper": "LEGCF", "table": table, "dataset": dataset, "method": method, "variant": variant,
            "protocol": "legcf", "seed": seed, "epochs": epochs, "metrics": {"ndcg@20": ndcg, "recall@20": recall},
            "config": {"model": _plain(legcf_config("gowalla"))}}


def test_sensitivity_frame_merges_the_table2_default():
    records = [
        _rec("Table 2", "", 2020, 0.10, 0.20), _rec("Table 2", "", 2021, 0.12, 0.22),
        _rec("Table 2", "", 2020, 0.5, 0.5, method="UD"),          # another method: ignored
        _rec("Table 2", "", 2020, 0.5, 0.5, dataset="yelp2020"),   # no Figure 4 records there: ignored
        _rec("Figure 4", "t=3", 2020, 0.08, 0.18), _rec("Figure 4", "t=3", 2021, 0.06, 0.16),
        _rec("Figure 4", "t=1", 2020, 0.02, 0.04),
        _rec("Figure 4", "w*=0.7", 2020, 0.09, 0.19), _rec("Figure 4", "c=1000", 2020, 0.07, 0.15),
        _rec("Table 3", "assignment_update=off, init=METIS", 2020, 0.5, 0.5),
    ]
    df = la.sensitivity_frame(records)
    assert {"parameter", "value", "ndcg@20", "recall@20", "n_seeds"} <= set(df.columns)
    assert set(df["dataset"]) == {"gowalla-mini"}
    assert list(df["parameter"].unique()) == ["t", "m", "w*", "c"]
    t = df[df["parameter"] == "t"].set_index("value")
    assert list(t.index) == [1.0, 2.0, 3.0]
    assert t.loc[2.0, "ndcg@20"] == pytest.approx(0.11) and t.loc[2.0, "n_seeds"] == 2 and t.loc[2.0, "default"]
    assert t.loc[3.0, "recall@20"] == pytest.approx(0.17) and t.loc[3.0, "n_seeds"] == 2 and not t.loc[3.0, "default"]
    assert t.loc[2.0, "ndcg@20 std"] == pytest.approx(np.std([0.10, 0.12], ddof=1))   # spread over seeds
    assert np.isnan(t.loc[1.0, "recall@20 std"])                                     # one seed: no spread
    # every sweep gets the default point, at the Table 2 run's own value
    defaults = df[df["default"]].set_index("parameter")["value"].to_dict()
    assert defaults == {"t": 2.0, "m": 1.0, "w*": 0.5, "c": 500.0}
    np.testing.assert_allclose(df[df["default"]]["recall@20"], 0.21)
    assert len(df) == 3 + 1 + 2 + 2
    assert la.sensitivity_frame([]).empty


def test_versus_default_measures_points_in_the_defaults_seed_spread():
    records = [
        _rec("Table 2", "", 2020, 0.10, 0.20), _rec("Table 2", "", 2021, 0.12, 0.22),   # default: mean 0.11, 0.21
        _rec("Figure 4", "t=3", 2020, 0.20, 0.21), _rec("Figure 4", "t=1", 2020, 0.02, 0.04),
        _rec("Table 2", "", 2020, 0.10, 0.20, dataset="other"), _rec("Figure 4", "c=1000", 2020, 0.10, 0.20, dataset="other"),
    ]
    vs = la.versus_default(la.sensitivity_frame(records)).set_index(["dataset", "parameter", "value"])
    assert len(vs) == 3 and not vs["default"].any()
    std = np.std([0.10, 0.12], ddof=1)
    t3 = vs.loc[("gowalla-mini", "t", 3.0)]
    assert t3["ndcg@20 vs default %"] == pytest.approx(100 * (0.20 / 0.11 - 1))
    assert t3["ndcg@20 vs default (seed stds)"] == pytest.approx((0.20 - 0.11) / std)
    assert t3["reading (ndcg@20)"] == "above the default"
    assert t3["recall@20 vs default (seed stds)"] == pytest.approx(0.0, abs=1e-9)
    assert t3["reading (recall@20)"] == "not told apart from the default"
    assert vs.loc[("gowalla-mini", "t", 1.0)]["reading (recall@20)"] == "below the default"
    # each dataset against its own default; one default seed gives no spread to measure in
    other = vs.loc[("other", "c", 1000.0)]
    assert other["ndcg@20 vs default %"] == pytest.approx(0.0)
    assert np.isnan(other["ndcg@20 vs default (seed stds)"])
    assert other["reading (ndcg@20)"] == "not measured (one default seed)"


def test_sensitivity_frame_warns_on_different_run_lengths():
    with pytest.warns(UserWarning, match="not comparable"):
        la.sensitivity_frame([_rec("Table 2", "", 2020, 0.1, 0.2, epochs=400), _rec("Figure 4", "t=3", 2020, 0.1, 0.2)])


# ------------------------------------------------------------------------------------------- Figure 3
def test_assignment_weights_are_column_means_of_s(monkeypatch):
    import qlib.experiment as experiment_mod

    exp = _experiment()
    data = synthetic_dataset(protocol="clean")
    seed_everything(5)
    model = exp.model_factory(data, build_norm_adj(data.train))
    fit(model, data, replace(TRAIN, seed=5, select_split="valid"))
    assert int(model.n_updates) > 0
    monkeypatch.setattr(experiment_mod, "trained_model", lambda e, profile, seed: (model, data, {"seed": seed}))

    r = la.assignment_weights(exp, profile="quick", seed=5, n_sampled=4, write=False)
    record_mod.validate_record(r)
    assert (r["table"], r["method"], r["seed"]) == ("Figure 3", "LEGCF", 5)
    n = data.n_users + data.n_items
    idx, val = model.assignment()
    dense = np.zeros((n, MODEL.n_meta))
    np.add.at(dense, (np.repeat(np.arange(n), idx.shape[1]), idx.ravel()), val.ravel())
    metas = [p["meta"] for p in r["points"]]
    assert len(metas) == 4 and metas == sorted(set(metas))
    for p in r["points"]:
        assert p["final"] == pytest.approx(dense[:, p["meta"]].mean())   # the paper's average over all N
        used = dense[:, p["meta"]] != 0
        assert p["final_users"] == used.sum()
        assert p["final_among_users"] == pytest.approx(dense[used, p["meta"]].mean() if used.any() else 0.0)
    # the initial S is rebuilt from the seed: its anchors are the ones the trained model started from
    seed_everything(5)
    initial = exp.model_factory(data, build_norm_adj(data.train))
    assert np.array_equal(initial.assignment()[0][:, 0], model.anchor_init.numpy())
    assert r["metrics"]["anchor_changed_frac"] == pytest.approx(
        float((model.anchor_init.numpy() != idx[:, 0]).mean()))
    with pytest.raises(ValueError, match="n_sampled"):
        la.assignment_weights(exp, profile="quick", seed=5, n_sampled=MODEL.n_meta + 1, write=False)


# --------------------------------------------------------------------------- the two stages of a run
def test_stage_curves_split_at_the_end_of_pretraining():
    hist = [{"epoch": e, "loss_bpr": 0.1, **({"valid_ndcg@5": v} if v is not None else {})}
            for e, v in [(1, None), (2, 0.10), (3, None), (4, 0.20), (5, None), (6, 0.05), (7, None), (8, 0.15)]]
    base = {"paper": "LEGCF", "method": "LEGCF", "table": "Table 2", "variant": "", "dataset": "gowalla", "seed": 1,
            "history": hist, "epochs": 8, "config": {"model": {"pretrain_epochs": None, "update_assignment": True},
                                                     "train": {"epochs": 8}}}
    fixed_p = {**base, "table": "Table 3", "variant": "off",
               "config": {"model": {"pretrain_epochs": 2, "update_assignment": False}, "train": {"epochs": 8}}}
    other = {**base, "method": "UD"}
    curves, summary = la.stage_curves([base, fixed_p, other])
    assert len(summary) == 2 and len(curves) == 8
    a = summary.iloc[0]
    assert a["P"] == 4 and a["updates"]                          # half the run
    assert (a["end of pre-training"], a["first after P"], a["best after P"], a["last"]) == (0.20, 0.05, 0.15, 0.15)
    b = summary.iloc[1]
    assert b["P"] == 2 and not b["updates"] and b["end of pre-training"] == 0.10 and b["best after P"] == 0.20
    assert list(curves[curves.table == "Table 2"].stage) == ["pretrain", "pretrain", "update", "update"]


def test_update_fidelity_matches_a_dense_reference():
    import torch

    data = synthetic_dataset(protocol="clean")
    seed_everything(2)
    model = LEGCF(data, replace(MODEL, n_meta=4, dim=8, t=2))   # c < d: H_meta^+ is a left inverse
    f = la.update_fidelity(model, batch_rows=7)                 # row blocks must not change the result
    with torch.no_grad():
        _, h = model._propagate()
        n = data.n_users + data.n_items
        s_dense = h[:n] @ torch.linalg.pinv(h[n:])
        vals, idx = torch.topk(s_dense, 2, dim=1)
        top = torch.zeros_like(s_dense).scatter_(1, idx, vals.clamp_min(0))
        ref = torch.linalg.norm(h[:n])
        assert f["residual_dense"] == pytest.approx(float(torch.linalg.norm(s_dense @ h[n:] - h[:n]) / ref), rel=1e-4)
        assert f["residual_top_t"] == pytest.approx(float(torch.linalg.norm(top @ h[n:] - h[:n]) / ref), rel=1e-4)
        assert f["ego_norm_ratio"] == pytest.approx(float(torch.linalg.norm(top @ model.meta) / torch.linalg.norm(model._ego())), rel=1e-4)
    assert 0 < f["top_t_norm_share"] <= 1
    assert f["residual_dense"] <= f["residual_top_t"] + 1e-6


def test_fidelity_record(monkeypatch):
    import qlib.experiment as experiment_mod

    exp = _experiment()
    data = synthetic_dataset(protocol="clean")
    seed_everything(5)
    model = exp.model_factory(data, build_norm_adj(data.train))
    monkeypatch.setattr(experiment_mod, "trained_model",
                        lambda e, profile, seed: (model, data, {"epochs": 4, "best_epoch": 3}))
    r = la.fidelity_record(exp, profile="quick", seed=5, write=False)
    record_mod.validate_record(r)
    assert (r["table"], r["source_table"], r["epochs"]) == ("Update fidelity", "Table 2", 4)
    assert r["metrics"]["n_updates"] == 0
    assert set(la.update_fidelity(model)) <= set(r["metrics"])
