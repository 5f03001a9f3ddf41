"""Results records (qlib.record) and the reference tables (qlib.reference)."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from qlib import record as R
from qlib.reference import COLUMNS, DATASET_IDS, dataset_id, load_hparams, load_reference, parse_notes


def make_record(**over) -> dict:
    """A minimal valid record."""
    rec = {"paper": "L2Q-GCN", "table": "Table 2", "dataset": "gowalla", "method": "LightGCN", "variant": "",
           "protocol": "paper", "seed": 2020, "metrics": {"recall@20": 0.1830, "ndcg_hits@20": 0.25},
           "config": {"dim": 64, "layers": 3}, "wall_time_s": 1.5, "epochs": 10}
    rec.update(over)
    return rec


# --------------------------------------------------------------------------- record keys

def test_record_key_example_and_stable():
    rec = make_record()
    assert R.record_key(rec) == "l2q-gcn__table-2__gowalla__lightgcn__default__paper__seed2020"
    assert R.record_key(dict(rec)) == R.record_key(rec)
    assert R.record_key(make_record(dataset="Gowalla")) == R.record_key(rec)      # printed name -> loader name
    assert R.record_key(make_record(dataset="MovieLens")).split("__")[2] == "ml-1m"


def test_record_key_distinguishes_fields():
    base = R.record_key(make_record())
    others = [make_record(seed=1), make_record(protocol="clean"), make_record(variant="w/o TQ"),
              make_record(method="L2Q-GCN_end"), make_record(table="Table 3"), make_record(dataset="yelp2018")]
    keys = {R.record_key(r) for r in others}
    assert base not in keys and len(keys) == len(others)
    assert R.record_key(make_record(method="", variant="", seed=None, table="Table 1")) == \
        "l2q-gcn__table-1__gowalla__none__default__paper__noseed"
    assert R.record_key(make_record(variant="w/o L_bpr")).split("__")[4] == "w-o-l-bpr"


# --------------------------------------------------------------------------- provenance

def test_provenance_keys():
    p = R.provenance()
    assert set(p) == {"git_commit", "git_dirty", "versions", "platform", "cpu", "n_threads", "device", "created"}
    assert set(p["versions"]) == {"python", "torch", "numpy", "scipy", "pandas", "qlib"}
    assert p["versions"]["numpy"] == np.__version__
    assert p["git_commit"] is None or len(p["git_commit"]) == 40
    assert p["git_dirty"] in (None, True, False)
    assert p["device"] == "cpu" or p["device"].startswith("cuda:")
    assert R.provenance(device="cuda:0")["device"] == "cuda:0"
    assert p["created"].endswith("+00:00")
    assert isinstance(p["n_threads"], int) and p["n_threads"] >= 1
    json.dumps(p, allow_nan=False)


def test_repo_paths():
    assert (R.REPO_ROOT / "qlib" / "record.py").is_file()
    assert R.RESULTS_ROOT == R.REPO_ROOT / "results"


# --------------------------------------------------------------------------- write / load

def test_write_record_roundtrip_atomic(tmp_path):
    rec = make_record(metrics={"recall@20": np.float32(0.125), "users": 29858},
                      history=[{"epoch": 1, "recall@20": np.float64(0.1)}], notes="x")
    path = R.write_record(rec, "full", results_root=tmp_path)
    assert path == tmp_path / "full" / (R.record_key(rec) + ".json")
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == [path.name]      # no temp file left
    text = path.read_text(encoding="utf-8")
    assert text.startswith("{\n \"")                                                  # indent 1
    data = json.loads(text)
    assert list(data) == sorted(data)                                                 # sorted keys
    assert data["profile"] == "full" and set(data["provenance"]) >= {"git_commit", "versions", "created"}
    assert data["metrics"] == {"recall@20": 0.125, "users": 29858.0}
    assert data["history"] == [{"epoch": 1, "recall@20": 0.1}]
    assert "profile" not in rec and "provenance" not in rec                           # input untouched

    loaded = R.load_records("full", results_root=tmp_path)
    assert len(loaded) == 1
    got = loaded[0]
    assert got.pop("_path") == path.resolve().as_posix()                              # outside the repo: absolute
    assert got == data

    # rewriting the loaded record (with its _path) replaces the file and keeps provenance
    again = R.write_record({**got, "_path": "ignored", "notes": "y"}, "full", results_root=tmp_path)
    assert again == path
    assert json.loads(path.read_text())["provenance"] == data["provenance"]
    assert "_path" not in json.loads(path.read_text())
    assert len(list((tmp_path / "full").iterdir())) == 1


def test_write_record_path_relative_inside_repo(tmp_path, monkeypatch):
    monkeypatch.setattr(R, "REPO_ROOT", tmp_path)
    R.write_record(make_record(), "smoke", results_root=tmp_path / "results")
    (rec,) = R.load_records("smoke", results_root=tmp_path / "results")
    assert rec["_path"] == f"results/smoke/{R.record_key(rec)}.json"


@pytest.mark.parametrize("key", R.REQUIRED_KEYS)
def test_write_record_missing_key(tmp_path, key):
    rec = make_record()
    del rec[key]
    with pytest.raises(ValueError, match=key):
        R.write_record(rec, "full", results_root=tmp_path)
    assert not (tmp_path / "full").exists() or not any((tmp_path / "full").iterdir())


@pytest.mark.parametrize("metrics", [{"recall@20": math.nan}, {"recall@20": "0.1"}, {"recall@20": True}, {}])
def test_write_record_bad_metrics(tmp_path, metrics):
    with pytest.raises(ValueError):
        R.write_record(make_record(metrics=metrics), "full", results_root=tmp_path)


def test_write_record_rejects_nan_elsewhere_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        R.write_record(make_record(history=[{"loss": float("nan")}]), "full", results_root=tmp_path)
    folder = tmp_path / "full"
    assert not folder.exists() or not any(folder.iterdir())


def test_write_record_profile_checks(tmp_path):
    with pytest.raises(ValueError, match="profile"):
        R.write_record(make_record(profile="quick"), "full", results_root=tmp_path)
    with pytest.raises(ValueError, match="profile"):
        R.write_record(make_record(), "../x", results_root=tmp_path)


def test_load_records_missing_profile_and_find(tmp_path):
    assert R.load_records("full", results_root=tmp_path) == []
    for seed in (1, 2):
        R.write_record(make_record(seed=seed), "full", results_root=tmp_path)
    R.write_record(make_record(seed=1, method="NGCF"), "full", results_root=tmp_path)
    (tmp_path / "full" / ".partial.json.tmp").write_text("{")                         # ignored
    recs = R.load_records("full", results_root=tmp_path)
    assert len(recs) == 3
    assert [r["seed"] for r in R.find_records(recs, method="LightGCN")] == [1, 2]
    assert len(R.find_records(recs, seed=1)) == 2
    assert R.find_records(recs, nonexistent=None) == []


# --------------------------------------------------------------------------- reference tables

EXPECTED_ROWS = {
    "l2q_gcn_table1_datasets.csv": 16, "l2q_gcn_table2_main.csv": 192, "l2q_gcn_table3_ablation.csv": 112,
    "l2q_gcn_resources.csv": 54, "l2q_gcn_layers.csv": 64, "l2q_gcn_dims.csv": 64,
    "legcf_table1_datasets.csv": 12, "legcf_table2_main.csv": 165, "legcf_table3_ablation.csv": 18,
    "legcf_table4_backbones.csv": 36, "lightgcn_paper.csv": 6,
}


def test_load_reference_row_counts():
    df = load_reference()
    assert df.groupby("source").size().to_dict() == EXPECTED_ROWS
    assert len(df) == sum(EXPECTED_ROWS.values()) == 739
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert {"value_num", "value_std", "dataset_id", "base_metric"} <= set(df.columns)
    assert set(df["paper"]) == {"L2Q-GCN", "LEGCF", "LightGCN"}
    assert len(load_reference("LEGCF")) == 12 + 165 + 18 + 36
    assert len(load_reference("LightGCN")) == 6


def test_load_reference_excludes_settings_and_claims():
    df = load_reference()
    assert "l2q_gcn_hparams.csv" not in set(df["source"]) and "claims.csv" not in set(df["source"])
    assert not df["metric"].isin(["batch_size", "learning_rate"]).any()
    hp = load_hparams()
    assert len(hp) == 20 and set(hp["metric"]) >= {"batch_size", "learning_rate", "embedding_dim"}


def test_load_reference_types_and_units():
    df = load_reference()
    assert str(df["k"].dtype) == "Int64"
    assert df.loc[df["metric"] == "users", "k"].isna().all()
    assert (df["method"].notna() & df["variant"].notna()).all()
    dens = df[(df["paper"] == "L2Q-GCN") & (df["metric"] == "density") & (df["dataset"] == "MovieLens")].iloc[0]
    assert dens["value"] == "0.04190" and dens["value_std"] == pytest.approx(0.0419)     # printed text kept
    cap = df[(df["metric"] == "capacity_vs_lightgcn") & (df["dataset"] == "MovieLens")
             & (df["method"] == "L2Q-GCN_end") & (df["base_metric"] == "recall@20")].iloc[0]
    assert cap["value_std"] == pytest.approx(0.8205) and cap["k"] == 20
    pct = df["unit"] == "%"
    assert np.allclose(df.loc[pct, "value_std"], df.loc[pct, "value_num"] / 100)
    assert np.allclose(df.loc[~pct, "value_std"], df.loc[~pct, "value_num"])
    legcf_dens = df[(df["paper"] == "LEGCF") & (df["metric"] == "density") & (df["dataset"] == "Gowalla")]
    assert legcf_dens["value_std"].iloc[0] == pytest.approx(0.00084)                    # 0.084 % -> fraction
    lg = df[(df["paper"] == "LightGCN") & (df["dataset"] == "Gowalla") & (df["metric"] == "ndcg")].iloc[0]
    assert (lg["table"], lg["method"], lg["variant"], lg["k"], lg["value"]) == ("Table 3", "LightGCN", "", 20, "0.1554")


def test_reference_cells_unique():
    df = load_reference()
    keys = ["paper", "table", "dataset", "method", "variant", "metric", "k", "base_metric"]
    assert not df.duplicated(keys).any()
    derived = df["metric"].isin(["capacity_vs_lightgcn", "rel_change"])
    assert (df.loc[derived, "base_metric"] != "").all() and (df.loc[~derived, "base_metric"] == "").all()


def test_dataset_id_mapping():
    df = load_reference()
    assert dict(DATASET_IDS) == {"MovieLens": "ml-1m", "Gowalla": "gowalla", "Pinterest": "pinterest",
                                 "Yelp2018": "yelp2018", "Yelp2020": "yelp2020", "Amazon-book": "amazon-book"}
    assert set(df["dataset"]) == set(DATASET_IDS)
    assert all(dataset_id(d) == i for d, i in zip(df["dataset"], df["dataset_id"]))
    assert dataset_id("gowalla") == "gowalla" and dataset_id("amazon-book") == "amazon-book"


def test_parse_notes():
    assert parse_notes("base_metric=recall@20 | printed=82.05% | src_line=1136") == \
        {"base_metric": "recall@20", "printed": "82.05%", "src_line": "1136"}
    assert parse_notes("printed_label=L2Q-GCN0=;")["printed_label"] == "L2Q-GCN0=;"
    assert parse_notes("") == {}


def test_reference_is_a_fresh_frame():
    a = load_reference()
    a.loc[0, "value"] = "x"
    assert load_reference().loc[0, "value"] != "x"
    assert isinstance(a, pd.DataFrame)


def test_write_record_failed_replace_leaves_no_temp(tmp_path, monkeypatch):
    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(R.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        R.write_record(make_record(), "full", results_root=tmp_path)
    assert list((tmp_path / "full").iterdir()) == []


def test_notebook_summaries_write_empty_cells_as_null(tmp_path):
    import json
    import math

    from qlib.notebooks import load_summary, save_summary

    save_summary(tmp_path, "x", {"rows": [{"a": 1.0, "b": math.nan}], "c": (math.nan, 2)})
    assert load_summary(tmp_path, "x") == {"rows": [{"a": 1.0, "b": None}], "c": [None, 2]}
    assert "NaN" not in (tmp_path / "x.summary.json").read_text()
    json.loads((tmp_path / "x.summary.json").read_text())


def test_code_state_outside_git_reads_the_state_it_was_sent_with(monkeypatch):
    from qlib import record

    monkeypatch.setattr(record, "_git", lambda *args: None)   # a copy of the tree without .git
    monkeypatch.delenv(record.CODE_STATE_ENV, raising=False)
    assert record.code_state.__wrapped__() == (None, None)
    monkeypatch.setenv(record.CODE_STATE_ENV, "abc123+dirty")
    assert record.code_state.__wrapped__() == ("abc123", True)
    monkeypatch.setenv(record.CODE_STATE_ENV, "abc123")
    assert record.code_state.__wrapped__() == ("abc123", False)
