"""The recorded recipe sweeps read back as tables (qlib.tuning)."""
from __future__ import annotations

import json
import math

import pytest

from qlib import tuning


def _legcf_sweep(root):
    runs = {
        "paper,epochs=8,P=4": {"variant": "paper", "epochs": 8, "pretrain_epochs": 4, "n_updates": 4,
                               "best_epoch": 6, "best_valid": {"ndcg@5": 0.045}, "final_valid_ndcg@5": 0.04,
                               "valid_ndcg@5_curve": [[2, 0.05], [4, 0.06], [6, 0.045], [8, 0.04]], "wall_time_s": 1.0},
        "update-off,epochs=8,P=4": {"variant": "update-off", "epochs": 8, "pretrain_epochs": 4, "n_updates": 0,
                                    "best_epoch": 4, "best_valid": {"ndcg@5": 0.06}, "final_valid_ndcg@5": 0.059,
                                    "valid_ndcg@5_curve": [[2, 0.05], [4, 0.06], [6, 0.059], [8, 0.059]],
                                    "wall_time_s": 1.0},
    }
    (root / "bench").mkdir()
    (root / "bench" / "tune_legcf_gowalla.json").write_text(json.dumps({"runs": runs}))


def test_legcf_frame_reads_the_value_at_the_end_of_pretraining(tmp_path):
    _legcf_sweep(tmp_path)
    frame = tuning.legcf_frame("gowalla", results_root=tmp_path).set_index("variant")
    assert frame.loc["paper", "valid ndcg@5 at P"] == 0.06           # epoch 4 = P, before the first update
    assert frame.loc["paper", "change by the updates"] == pytest.approx(0.045 / 0.06 - 1)
    assert math.isnan(frame.loc["update-off", "change by the updates"])   # no update, no change to report
    curves = tuning.legcf_curves("gowalla", results_root=tmp_path)
    assert curves["paper,epochs=8,P=4"] == ([2, 4, 6, 8], [0.05, 0.06, 0.045, 0.04])


def test_a_missing_sweep_names_the_script_that_writes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="bench/tune_legcf.py"):
        tuning.legcf_frame("gowalla", results_root=tmp_path)
    with pytest.raises(FileNotFoundError, match="bench/tune_l2q.py"):
        tuning.l2q_lr_frame("ml-1m", "end", results_root=tmp_path)


def test_the_recorded_sweeps_behind_the_recipes_load():
    fast = tuning.fast_recipe_frame("gowalla")
    assert len(fast) >= 5 and fast["final valid recall@20"].between(0, 1).all()
    l2q = tuning.l2q_lr_frame("ml-1m", "end")
    assert set(l2q["lr"]) >= {0.01, 0.1} and (l2q["batch"] > 0).all()


def test_chosen_fast_setting_compares_only_runs_of_the_recipe_shape(tmp_path):
    from qlib.recipes import FAST_BATCH_SIZE, FAST_EPOCHS

    run = lambda batch, lr, epochs, final: {"batch_size": batch, "lr": lr, "lr_schedule": "cosine",  # noqa: E731
                                            "epochs": epochs, "final_valid_recall@20": final,
                                            "best_valid_recall@20": final, "wall_time_s": 1.0}
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "tune_fast_recipe_toy.json").write_text(json.dumps({"runs": [
        run(FAST_BATCH_SIZE, 0.1, FAST_EPOCHS, 0.10), run(FAST_BATCH_SIZE, 0.05, FAST_EPOCHS, 0.11),
        run(FAST_BATCH_SIZE // 2, 0.02, FAST_EPOCHS, 0.50),      # another batch size: not a learning-rate choice
        run(FAST_BATCH_SIZE, 0.2, FAST_EPOCHS // 2, 0.60),      # another length: likewise
        run(FAST_BATCH_SIZE, 0.3, FAST_EPOCHS, 0.07) | {"reg": 1e-5}]}))   # another L2 factor, lower
    assert tuning.chosen_fast_setting("toy", results_root=tmp_path) == {"lr": 0.05, "reg": 1e-4}
    frame = tuning.fast_recipe_frame("toy", results_root=tmp_path)
    assert frame["L2"].tolist() == [1e-4, 1e-4, 1e-4, 1e-4, 1e-5]     # runs without the key ran the paper's 1e-4
    assert tuning.chosen_fast_setting("absent", results_root=tmp_path) is None
    path = tmp_path / "bench" / "tune_fast_recipe_toy.json"
    sweep = json.loads(path.read_text())
    sweep["runs"].append(run(FAST_BATCH_SIZE, 0.1, FAST_EPOCHS, 0.12) | {"reg": 1e-3})   # a higher L2 factor wins
    path.write_text(json.dumps(sweep))
    assert tuning.chosen_fast_setting("toy", results_root=tmp_path) == {"lr": 0.1, "reg": 1e-3}


def test_lightgcn_lr_variant_names_and_trains_with_its_learning_rate():
    from qlib import catalog
    from qlib.recipes import FAST_LR

    (exp,) = catalog.lightgcn_paper_experiments(("yelp2018",), lr=0.05)
    assert exp.variant == "lr-0.05" and exp.train.lr == 0.05
    (same,) = catalog.lightgcn_paper_experiments(("yelp2018",), lr=FAST_LR)   # the recipe's own: the default run
    assert same.variant == "" and same.train.lr == FAST_LR
    with pytest.raises(ValueError, match="lr must be positive"):
        catalog.lightgcn_paper_experiments(("yelp2018",), lr=0.0)


def test_lightgcn_l2_variant_names_and_trains_with_its_factor():
    from qlib import catalog

    (exp,) = catalog.lightgcn_paper_experiments(("yelp2018",), reg=1e-3)
    assert exp.variant == "l2-0.001" and exp.model_config.reg == 1e-3 and "lambda=0.001" in exp.notes
    (both,) = catalog.lightgcn_paper_experiments(("yelp2018",), lr=0.05, reg=1e-3)
    assert both.variant == "lr-0.05, l2-0.001"
    (same,) = catalog.lightgcn_paper_experiments(("yelp2018",), reg=catalog.LIGHTGCN_PAPER_REG)   # the default run
    assert same.variant == "" and same.model_config.reg == 1e-4
    with pytest.raises(ValueError, match="reg must be >= 0"):
        catalog.lightgcn_paper_experiments(("yelp2018",), reg=-1.0)


def test_tuned_lightgcn_takes_the_sweeps_choice_at_any_length(monkeypatch):
    from qlib import catalog
    from qlib.recipes import FAST_LR

    choice = {"gowalla": None, "yelp2018": {"lr": FAST_LR, "reg": 2e-4}}
    monkeypatch.setattr(tuning, "chosen_fast_setting", lambda ds, results_root=None: choice[ds])
    (exp,) = catalog.lightgcn_tuned_experiments()               # Gowalla: no sweep choice recorded
    assert (exp.dataset, exp.variant, exp.model_config.reg, exp.train.epochs) == ("yelp2018", "l2-0.0002", 2e-4, 400)
    (longer,) = catalog.lightgcn_tuned_experiments(("yelp2018",), epochs=1600)
    assert longer.variant == "epochs-1600, l2-0.0002" and longer.train.epochs == 1600 and longer.model_config.reg == 2e-4
    choice["yelp2018"] = {"lr": FAST_LR, "reg": catalog.LIGHTGCN_PAPER_REG}   # the recipe's own: the default runs
    assert catalog.lightgcn_tuned_experiments() == [] and catalog.lightgcn_tuned_experiments(epochs=1600) == []


def test_legcf_sweep_variant_names_parse_or_fail_before_training(repo_script):
    bench = repo_script("bench/tune_legcf.py")
    assert bench.variant_settings("backbone-ngcf+lr-0.01") == ({"backbone": "ngcf"}, {"lr": 0.01})
    assert bench.variant_settings("every-3") == ({"update_every": 3}, {})
    assert bench.variant_settings("backbone-ngcf+agg-mean") == ({"backbone": "ngcf", "update_aggregation": "mean"}, {})
    assert bench.variant_settings("backbone-ngcf+update-off+gain-0.1+nmeta-2000+layers-1") == (
        {"backbone": "ngcf", "update_assignment": False, "meta_init_gain": 0.1, "n_meta": 2000, "n_layers": 1}, {})
    assert bench.variant_settings("backbone-ngcf+ngcf-nobi+ngcf-nonorm") == (
        {"backbone": "ngcf", "backbone_options": {"bi_interaction": False, "normalize": False}}, {})
    assert bench.variant_settings("table+backbone-ngcf+ngcf-nonorm") == (
        {"full_table": True, "backbone": "ngcf", "backbone_options": {"normalize": False}}, {})
    for bad in ("backbone-gcn", "agg-sum", "lr-fast", "sideways", "gain-0", "nmeta-0", "layers-x", "ngcf-relu"):
        with pytest.raises(ValueError, match="unknown variant"):
            bench.variant_settings(bad)



def test_legcf_frame_divides_each_run_by_the_full_table_of_its_backbone_and_switches(tmp_path):
    def run(variant, value, **model):
        return {"variant": variant, "epochs": 8, "pretrain_epochs": 8 if model.get("full_table") else 4,
                "n_updates": 0, "n_updates_at_selected": 0, "best_epoch": 8, "best_valid": {"ndcg@5": value},
                "final_valid_ndcg@5": value, "valid_ndcg@5_curve": [[8, value]], "wall_time_s": 1.0,
                "model": {"n_layers": 3, **model}}
    runs = {"a": run("update-off", 0.03, backbone="ngcf"),
            "b": run("update-off+ngcf-nonorm", 0.02, backbone="ngcf", backbone_options={"normalize": False}),
            "c": run("update-off+layers-1", 0.01, backbone="ngcf", n_layers=1),
            "t": run("table+backbone-ngcf", 0.06, backbone="ngcf", full_table=True, backbone_options={}),
            "u": run("table+backbone-ngcf+ngcf-nonorm", 0.08, backbone="ngcf", full_table=True,
                     backbone_options={"normalize": False})}
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "tune_legcf_x.json").write_text(json.dumps({"runs": runs}))
    frame = tuning.legcf_frame("x", results_root=tmp_path).set_index("run")["share of its full table"]
    assert frame["a"] == pytest.approx(0.5) and frame["b"] == pytest.approx(0.25)
    assert math.isnan(frame["c"]) and math.isnan(frame["t"]) and math.isnan(frame["u"])   # no 1-layer table
