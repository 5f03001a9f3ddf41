import json
import subprocess
import sys
from pathlib import Path

import pytest

from qlib import catalog
from qlib.experiment import run_experiment
from qlib.record import load_records
from qlib.speed import extrapolate_epochs

REPO = Path(__file__).resolve().parent.parent


def test_run_experiment_writes_a_record_with_provenance(tmp_path):
    exp = catalog.l2q_lightgcn_experiments(("gowalla",))[0]
    rec = run_experiment(exp, profile="smoke", seed=7, results_root=tmp_path)
    saved = load_records("smoke", tmp_path)
    assert len(saved) == 1 and saved[0]["dataset"] == "gowalla-mini" and saved[0]["seed"] == 7
    for key in ("recall@20", "ndcg@20", "ndcg_hits@20", "precision@100", "storage_bits"):
        assert key in rec["metrics"]
    prov = rec["provenance"]
    assert {"git_commit", "versions", "device", "created"} <= set(prov)
    assert rec["config"]["model"]["dim"] == 128 and rec["config"]["train"]["lr_schedule"] == "cosine"
    assert rec["epochs"] == 2 and rec["wall_time_s"] > 0
    assert "on the test split" in rec["selection"]  # the paper protocol is labelled as test-set selection


def test_clean_protocol_record_selects_on_validation(tmp_path):
    exp = catalog.lightgcn_paper_experiments(("gowalla",), ("clean",))[0]
    rec = run_experiment(exp, profile="smoke", results_root=tmp_path)
    assert rec["protocol"] == "clean" and rec["valid_metrics"] is not None
    assert "validation" in rec["selection"]


def test_same_seed_same_record_metrics(tmp_path):
    exp = catalog.lightgcn_paper_experiments(("gowalla",))[0]
    a = run_experiment(exp, profile="smoke", results_root=tmp_path / "a")
    b = run_experiment(exp, profile="smoke", results_root=tmp_path / "b")
    assert a["metrics"] == b["metrics"]


def test_power_law_extrapolation_recovers_the_target_epoch():
    r_inf, a, b = 0.19, 0.12, 0.6
    curve = [{"epoch": e, "recall@20": r_inf - a * e ** (-b)} for e in range(1, 12)]
    fit = extrapolate_epochs(curve, 0.175)
    assert fit["ok"]
    want = (a / (r_inf - 0.175)) ** (1 / b)
    assert fit["epochs_to_target"] == pytest.approx(want, rel=1e-3)
    assert not extrapolate_epochs(curve[:3], 0.175)["ok"]


@pytest.mark.parametrize("script", ["train_speed.py", "levers.py", "tune_fast_recipe.py", "tune_legcf.py",
                                    "neurcf_scoring.py", "inference_parts.py", "tie_breaking.py",
                                    "hashgnn_soft_readings.py"])
def test_benchmarks_run_at_smoke_size(script, tmp_path):
    extra = ["--variants", "paper", "update-off", "table"] if script == "tune_legcf.py" else []
    out = subprocess.run([sys.executable, str(REPO / "bench" / script), "--smoke", "--out", str(tmp_path), *extra],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    (path,) = tmp_path.glob("*.json")
    data = json.loads(path.read_text())
    assert data["provenance"]["git_commit"] is None or len(data["provenance"]["git_commit"]) == 40
    if script == "train_speed.py":
        for recipe in ("fast", "paper"):
            r = data["recipes"][recipe]
            assert r["peak_rss_mib"] > 0 and r["per_epoch_train_s"] > 0 and r["curve"]
    if script == "hashgnn_soft_readings.py":
        recorded = next(r for r in data["rows"] if r["reading"] == "bernoulli (recorded)")
        for key, value in recorded["recorded"].items():   # the record's own reading reproduces the record
            assert recorded["metrics"][key] == pytest.approx(value, abs=1e-12)
        assert {r["reading"] for r in data["rows"]} == {"bernoulli (recorded)", "rerank top 500", "codes only",
                                                        "continuous only"}
    if script == "tie_breaking.py":
        by_rule = {r["rule"]: r for r in data["rows"]}
        as_is = by_rule["as-is"]
        for key, value in as_is["recorded"].items():      # torch.topk's order is what the record measured
            assert as_is["metrics"][key] == pytest.approx(value, abs=1e-12)
        for r in data["rows"]:
            assert by_rule["pessimistic"]["metrics"]["recall@20"] <= r["metrics"]["recall@20"] \
                <= by_rule["optimistic"]["metrics"]["recall@20"]
        assert data["tie_profiles"][0]["distinct_scores"] <= 129          # 128-bit codes: at most 129 values
        assert max(r["metrics"]["ndcg_hits@20"] for r in data["rows"]) <= data["tie_profiles"][0]["ndcg_hits@20_upper_bound"]
    if script == "levers.py":
        assert {r["lever"] for r in data["rows"]} >= {"sparse layout (A x, d=64)", "backward (2 layers fwd+bwd)"}
    if script == "tune_fast_recipe.py":
        assert data["protocol"].startswith("clean") and len(data["runs"]) == 5
    if script == "neurcf_scoring.py":   # every block size timed at each thread count, on the same scores
        assert {r["threads"] for r in data["rows"]} == {1, 2}
        for threads in (1, 2):
            rows = [r for r in data["rows"] if r["threads"] == threads]
            assert [r["score_budget"] for r in rows] == sorted((r["score_budget"] for r in rows), reverse=True)
            assert rows[0]["speedup_vs_largest"] == pytest.approx(1.0)
        assert all(r["seconds"] > 0 and r["pairs_per_s"] > 0 for r in data["rows"])
    if script == "inference_parts.py":   # both forms timed per dataset, with the codes' speed-ups
        assert {r["form"] for r in data["rows"]} == {"fp32 table", "int16 summed codes"}
        assert all(r["score_s"] > 0 and r["sort_s"] > 0 and 0 < r["sort_share"] < 1 for r in data["rows"])
        assert all("total_speedup_vs_fp32" in r for r in data["rows"] if r["form"] == "int16 summed codes")
    if script == "tune_legcf.py":   # paper (updates on), update-off and a full table; validation only
        assert data["split_read"] == "valid" and len(data["runs"]) == 3
        runs = {r["variant"]: r for r in data["runs"].values()}
        assert runs["table"]["model"] == {"full_table": True, "dim": 128, "n_layers": 3, "backbone": "lightgcn",
                                          "backbone_options": {}} and runs["table"]["n_updates"] == 0
        assert runs["paper"]["n_updates"] == 2 and runs["update-off"]["n_updates"] == 0   # 4 epochs, P = 2, m = 1
        assert 1 <= runs["paper"]["n_updates_at_selected"] <= 2   # selection only after the first update
        assert all(0 <= v <= 1 for r in runs.values() for _, v in r["valid_ndcg@5_curve"])


def test_report_cli_json_keys_are_stable():
    out = subprocess.run([sys.executable, "-m", "qlib", "report", "--json"], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = json.loads(out.stdout)
    # the issue's keys, in their order; later additions (seed count and spread) only at the end
    assert rows and list(rows[0])[:13] == ["paper", "table", "dataset", "method", "variant", "metric", "k",
                                           "paper_value", "reproduced", "protocol", "profile", "status", "record"]
    assert list(rows[0])[13:] == ["n_seeds", "seed_std"]


def test_profiles_cap_epochs_and_compile_only_at_full():
    from qlib.recipes import fast_recipe, get_profile

    cfg = fast_recipe()
    assert cfg.compile and cfg.epochs == 400
    full = get_profile("full").apply(cfg)
    assert full.compile and full.epochs == 400 and full.eval_every == cfg.eval_every
    for name, epochs in (("quick", 20), ("smoke", 2)):
        short = get_profile(name).apply(cfg)
        assert not short.compile and not short.progress and short.epochs == epochs
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        get_profile("fast")


def test_a_record_made_with_other_settings_is_not_reused():
    from dataclasses import replace

    from qlib.experiment import settings_changed
    from qlib.recipes import fast_recipe

    cfg = catalog.legcf_config("gowalla")
    train = fast_recipe()
    record = {"config": {"train": {**vars(train), "eval_ks": [20], "checkpoint_dir": "/elsewhere", "progress": False},
                         "model": {**vars(cfg), "removed_since": 1}}}
    record["config"]["train"]["eval_ks"] = list(train.eval_ks)
    assert settings_changed(record, train, cfg) == []            # lists vs tuples, neutral and unknown fields
    assert settings_changed(record, replace(train, epochs=60), cfg) == ["train.epochs: 400 -> 60"]
    assert settings_changed(record, train, replace(cfg, update_every=5)) == ["model.update_every: 1 -> 5"]
    assert settings_changed(record, train, replace(cfg, metis_cache_dir="/tmp/other")) == []   # names a cache only
    from qlib.models import NeuMFConfig
    ncf = {"config": {"train": record["config"]["train"], "model": vars(NeuMFConfig(score_budget=2 ** 24))}}
    assert settings_changed(ncf, train, NeuMFConfig(score_budget=2 ** 18)) == []   # a scoring block size only
    assert settings_changed(ncf, train, NeuMFConfig(gmf_dim=8)) == ["model.gmf_dim: 64 -> 8"]


def test_every_recorded_full_run_matches_the_current_settings():
    """The book shows recorded runs: one made under settings the catalog no longer uses would be shown as
    today's result. Change a recipe or a model default only together with re-running its records."""
    from qlib.experiment import audit_records

    audit = audit_records(catalog.all_experiments())
    assert audit["checked"] >= 40
    assert audit["stale"] == [], "\n".join(f"{s['record']}: {s['changes']}" for s in audit["stale"])


def test_missing_runs_lists_unrecorded_seeds_with_an_estimate_from_recorded_relatives(repo_script):
    run_full = repo_script("scripts/run_full.py")
    exp = catalog.lightgcn_paper_experiments(("gowalla",))[0]   # recorded at seed 2020 in results/full
    rows = run_full.missing_runs([exp], seeds=(2020, 1234567))
    by_seed = {r["seed"]: r for r in rows}
    assert by_seed[1234567]["why"] == "no record"
    assert by_seed[1234567]["est_min"] > 0 and "same setting" in by_seed[1234567]["est_device"]
    assert 2020 not in by_seed or by_seed[2020]["why"].startswith("settings changed")


def test_missing_runs_estimates_from_training_runs_not_from_measurement_records(repo_script):
    run_full = repo_script("scripts/run_full.py")
    exp = catalog.lightgcn_paper_experiments(("gowalla",))[0]
    base = {"paper": exp.paper, "method": exp.method, "dataset": exp.dataset, "provenance": {"device": "cpu"},
            "_path": "x/none.json"}
    measured = {**base, "table": "Appendix Table 3", "variant": "", "wall_time_s": 6.0}      # no history: timing only
    trained = {**base, "table": "Other", "variant": "v", "wall_time_s": 1200.0, "history": []}
    rows = run_full.missing_runs([exp], seeds=(1234567,), records=[measured, trained])
    assert rows[0]["est_min"] == 20.0 and "other settings" in rows[0]["est_device"]
    assert run_full.missing_runs([exp], seeds=(1234567,), records=[measured])[0]["est_min"] is None


def test_missing_runs_prefer_a_relative_on_the_same_backbone(repo_script):
    """LEGCF on NGCF costs about twice LEGCF on LightGCN: an unrecorded NGCF setting is estimated from NGCF runs."""
    run_full = repo_script("scripts/run_full.py")
    exp = catalog.legcf_ngcf_reading_experiments(("gowalla",))[0]
    base = {"paper": "LEGCF", "method": "LEGCF", "dataset": "gowalla", "provenance": {"device": "cpu"},
            "_path": "x/none.json", "history": []}
    on = {"lightgcn": {**base, "table": "Table 2", "variant": "", "wall_time_s": 600.0,
                       "config": {"model": {"backbone": "lightgcn"}}},
          "ngcf": {**base, "table": "Table 4", "variant": "backbone=NGCF", "wall_time_s": 1800.0,
                   "config": {"model": {"backbone": "ngcf"}}}}
    rows = run_full.missing_runs([exp], seeds=(1234567,), records=list(on.values()))
    assert rows[0]["est_min"] == 30.0 and "same backbone" in rows[0]["est_device"]
    rows = run_full.missing_runs([exp], seeds=(1234567,), records=[on["lightgcn"]])
    assert rows[0]["est_min"] == 10.0 and "other settings" in rows[0]["est_device"]


def test_missing_runs_scale_a_relative_of_another_embedding_dimension(repo_script):
    """A d = 512 run costs about eight times a d = 64 one: its estimate is scaled, and says so."""
    run_full = repo_script("scripts/run_full.py")
    exp = next(e for e in catalog.l2q_dim_experiments(("gowalla",))
               if e.method == "L2Q-GCN_end" and e.model_config.emb_dim == 512)
    rec = {"paper": exp.paper, "method": exp.method, "dataset": "gowalla", "provenance": {"device": "cpu"},
           "_path": "x/none.json", "history": [], "table": "Table 2", "variant": "", "wall_time_s": 600.0,
           "config": {"model": {"emb_dim": 64}}}
    rows = run_full.missing_runs([exp], seeds=(1234567,), records=[rec])
    assert rows[0]["est_min"] == 80.0 and "scaled to d=512" in rows[0]["est_device"]


def test_missing_runs_scale_a_relative_of_another_schedule_length(repo_script):
    """A 1,600-epoch schedule costs about four times the 400-epoch one: its estimate is scaled, and says so."""
    run_full = repo_script("scripts/run_full.py")
    (exp,) = catalog.lightgcn_paper_experiments(("yelp2018",), epochs=1600, reg=2e-4)
    rec = {"paper": exp.paper, "method": exp.method, "dataset": "yelp2018", "provenance": {"device": "cpu"},
           "_path": "x/none.json", "history": [], "table": "Table 3", "variant": "", "wall_time_s": 1500.0,
           "config": {"model": {"dim": 64}, "train": {"epochs": 400}}}
    rows = run_full.missing_runs([exp], seeds=(1234567,), records=[rec])
    assert rows[0]["est_min"] == 100.0 and "scaled to 1600 epochs" in rows[0]["est_device"]


def test_missing_runs_scale_the_method_on_another_dataset_by_training_interactions(repo_script):
    """With no relative on the run's own dataset, the method's runs elsewhere are scaled by the number of
    training interactions, and the estimate says so."""
    run_full = repo_script("scripts/run_full.py")
    exp = next(e for e in catalog.l2q_baseline_experiments(("yelp2018",)) if e.method == "HashGNN")
    base = {"paper": exp.paper, "provenance": {"device": "cpu"}, "_path": "x/none.json", "history": [],
            "table": "Table 2", "variant": ""}
    elsewhere = {**base, "method": "HashGNN", "dataset": "gowalla", "wall_time_s": 600.0,
                 "dataset_stats": {"n_train": 1000}}
    yelp_size = {**base, "method": "LightGCN", "dataset": "yelp2018", "wall_time_s": 60.0,
                 "dataset_stats": {"n_train": 1500}}
    rows = run_full.missing_runs([exp], seeds=(1234567,), records=[elsewhere, yelp_size])
    assert rows[0]["est_min"] == 15.0 and "other datasets" in rows[0]["est_device"]
    # the run's own dataset size unknown: no estimate rather than a guess
    assert run_full.missing_runs([exp], seeds=(1234567,), records=[elsewhere])[0]["est_min"] is None


def test_run_full_missing_trains_nothing_and_names_unknown_groups():
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "run_full.py"), "legcf-backbone", "--missing",
                          "--seed", "1234567"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "run(s) missing" in out.stdout and "seed 1234567" in out.stdout
    bad = subprocess.run([sys.executable, str(REPO / "scripts" / "run_full.py"), "no-such-group", "--missing"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "unknown group(s) no-such-group" in bad.stderr


def test_run_full_variants_selects_one_reading_by_its_exact_label():
    label = "backbone=NGCF, update_aggregation=mean, normalize=False"
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "run_full.py"), "legcf-ngcf-readings", "--missing",
                          "--seed", "1234567", "--variants", label], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "1 run(s) missing" in out.stdout and label in out.stdout


def test_has_trained_weights_reads_selected_or_finished_checkpoint(tmp_path, monkeypatch):
    import torch

    from qlib import catalog
    from qlib import experiment as experiment_mod
    from qlib import record as rec

    monkeypatch.setattr(experiment_mod, "RUNS_ROOT", tmp_path / "runs")
    monkeypatch.setattr(rec, "RESULTS_ROOT", tmp_path / "results")
    exp = next(e for e in catalog.l2q_baseline_experiments(("gowalla",)) if e.method == "HashGNN")
    assert not experiment_mod.has_trained_weights(exp, "full")
    key = rec.record_key({**exp.label(), "dataset": "gowalla", "seed": 2020})
    folder = tmp_path / "runs" / "full" / key
    folder.mkdir(parents=True)
    torch.save({"w": torch.zeros(1)}, folder / "selected.pt")
    assert not experiment_mod.has_trained_weights(exp, "full")          # weights without a record: would retrain
    (folder / "selected.pt").unlink()
    (tmp_path / "results" / "full").mkdir(parents=True)
    (tmp_path / "results" / "full" / f"{key}.json").write_text("{}")
    unfinished = {"state": {"epoch": exp.train.epochs - 1, "best_state": {"w": torch.zeros(1)}}}
    torch.save(unfinished, folder / "last.pt")
    assert not experiment_mod.has_trained_weights(exp, "full")          # a killed run's checkpoint: not done
    torch.save({"state": {"epoch": exp.train.epochs, "best_state": {"w": torch.zeros(1)}}}, folder / "last.pt")
    assert experiment_mod.has_trained_weights(exp, "full")
    assert not experiment_mod.has_trained_weights(exp, "full", seed=2021)
