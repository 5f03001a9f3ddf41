"""The comparison report (qlib.report) and its command line (python -m qlib report)."""
from __future__ import annotations

import json
import statistics

import pandas as pd
import pytest

from qlib.__main__ import main
from qlib.record import write_record
from qlib.report import ROW_KEYS, STATUSES, build_report, format_report, metric_key

PROV = {"git_commit": None, "note": "synthetic"}   # skip the real provenance to keep the tests fast
SEED_VALUES = (0.18, 0.19)   # LightGCN's recall@20 under seeds 1 and 2 in the fixture


def put(root, paper="L2Q-GCN", table="Table 2", dataset="gowalla", method="LightGCN", variant="", protocol="paper",
        seed=1, profile="full", **metrics) -> None:
    """Write one synthetic record under ``root``."""
    write_record({"paper": paper, "table": table, "dataset": dataset, "method": method, "variant": variant,
                  "protocol": protocol, "seed": seed, "metrics": metrics, "config": {}, "wall_time_s": 0.0,
                  "epochs": 1, "provenance": PROV}, profile, results_root=root)


def row(rows, **match) -> dict:
    """The single row with the given fields."""
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


@pytest.fixture
def results(tmp_path):
    """A results root with a few synthetic full-profile records."""
    # Table 2, Gowalla: LightGCN with two seeds, L2Q-GCN_end under two protocols
    put(tmp_path, seed=1, **{"recall@20": SEED_VALUES[0], "ndcg@20": 0.15, "ndcg_hits@20": 0.30})
    put(tmp_path, seed=2, **{"recall@20": SEED_VALUES[1], "ndcg@20": 0.16, "ndcg_hits@20": 0.32})
    put(tmp_path, method="L2Q-GCN_end", **{"recall@20": 0.148, "ndcg_hits@20": 0.248, "ndcg@20": 0.1})
    put(tmp_path, method="L2Q-GCN_end", protocol="clean", **{"recall@20": 0.01, "ndcg_hits@20": 0.01})
    # a protocol only one input of a derived cell has must not be used for it
    put(tmp_path, method="L2Q-GCN_anl", protocol="clean", **{"recall@20": 0.17})
    # Table 3 ablation block of L2Q-GCN_end
    put(tmp_path, table="Table 3", method="L2Q-GCN_end", variant="Best", **{"recall@20": 0.20})
    put(tmp_path, table="Table 3", method="L2Q-GCN_end", variant="w/o TQ", **{"recall@20": 0.15})
    # resources: Appendix Table 3 (also used for Figure 5(a))
    for ds, lg, end in (("gowalla", 34.59, 3.24), ("yelp2018", 34.04, 3.2)):
        put(tmp_path, table="Appendix Table 3", dataset=ds, embedding_size=lg, inference_time=190.0)
        put(tmp_path, table="Appendix Table 3", dataset=ds, method="L2Q-GCN_end", embedding_size=end,
            inference_time=100.0)
    # LEGCF Table 2: parameter count as a raw count, standard NDCG
    put(tmp_path, paper="LEGCF", method="UD", variant="dim=128", num_params=9_070_000.0,
        **{"ndcg@20": 0.1, "ndcg_hits@20": 0.9})
    # dataset statistics (Table 1, no method, printed dataset name, no seed)
    put(tmp_path, table="Table 1", dataset="Gowalla", method="", seed=None, users=29858, density=0.00084)
    put(tmp_path, paper="LEGCF", table="Table 1", method="", seed=None, density=0.00084)
    # LightGCN paper
    put(tmp_path, paper="LightGCN", table="Table 3", **{"recall@20": 0.1822})
    # another profile must not leak in
    put(tmp_path, method="NGCF", profile="quick", **{"recall@20": 0.5})
    return tmp_path


@pytest.fixture
def rows(results):
    return build_report("full", results_root=results, data_available=lambda ds: ds != "pinterest")


def test_metric_key():
    assert metric_key("L2Q-GCN", "ndcg", 20) == "ndcg_hits@20"
    assert metric_key("LEGCF", "ndcg", 20) == "ndcg@20"
    assert metric_key("LightGCN", "recall", 20) == "recall@20"
    assert metric_key("LEGCF", "num_params", None) == "num_params"


def test_rows_one_per_cell_with_exact_keys(rows):
    assert len(rows) == 739
    assert all(tuple(r) == ROW_KEYS for r in rows)
    assert ROW_KEYS == ("paper", "table", "dataset", "method", "variant", "metric", "k", "paper_value",
                        "reproduced", "protocol", "profile", "status", "record", "n_seeds", "seed_std")
    keys = [(r["paper"], r["table"], r["dataset"], r["method"], r["variant"], r["metric"], r["k"]) for r in rows]
    assert len(set(keys)) == len(keys)
    assert {r["status"] for r in rows} <= set(STATUSES)
    assert all(r["profile"] == "full" for r in rows)
    assert all(isinstance(r["k"], int) or r["k"] is None for r in rows)
    assert all(isinstance(r["paper_value"], float) for r in rows)
    json.dumps(rows, allow_nan=False)


def test_seed_average_and_paths(rows):
    r = row(rows, paper="L2Q-GCN", table="Table 2", dataset="gowalla", method="LightGCN", metric="recall", k=20)
    assert r["reproduced"] == pytest.approx(0.185)
    assert r["paper_value"] == pytest.approx(0.1780)            # 17.80 % -> fraction
    assert r["status"] == "reproduced" and r["protocol"] == "paper"
    assert isinstance(r["record"], list) and len(r["record"]) == 2
    assert all(p.endswith(".json") for p in r["record"])
    assert {p.rsplit("__", 1)[1] for p in r["record"]} == {"seed1.json", "seed2.json"}
    assert r["n_seeds"] == 2 and r["seed_std"] == pytest.approx(statistics.stdev(SEED_VALUES))


def test_single_seed_has_no_spread_and_derived_cells_count_the_model(rows):
    r = row(rows, paper="L2Q-GCN", table="Table 2", dataset="gowalla", method="L2Q-GCN_end", metric="recall", k=20)
    assert r["n_seeds"] == 1 and r["seed_std"] is None
    r = row(rows, paper="L2Q-GCN", table="Table 2", dataset="gowalla", method="L2Q-GCN_end",
            metric="capacity_vs_lightgcn:recall", k=20)
    assert r["n_seeds"] == 1 and r["seed_std"] is None        # the model's one seed, not LightGCN's two
    r = row(rows, paper="L2Q-GCN", table="Table 2", dataset="gowalla", method="HashNet", metric="recall", k=20)
    assert r["status"] == "not-run" and r["n_seeds"] is None and r["seed_std"] is None


def test_l2q_ndcg_uses_hits_convention_and_legcf_standard(rows):
    r = row(rows, paper="L2Q-GCN", table="Table 2", dataset="gowalla", method="LightGCN", metric="ndcg", k=20)
    assert r["reproduced"] == pytest.approx(0.31)
    r = row(rows, paper="LEGCF", table="Table 2", dataset="gowalla", method="UD", variant="dim=128", metric="ndcg",
            k=20)
    assert r["reproduced"] == pytest.approx(0.1)


def test_protocol_preference_and_single_record_path(rows):
    r = row(rows, paper="L2Q-GCN", table="Table 2", dataset="gowalla", method="L2Q-GCN_end", metric="recall", k=20)
    assert r["protocol"] == "paper" and r["reproduced"] == pytest.approx(0.148)
    assert isinstance(r["record"], str) and "__paper__seed1" in r["record"]
    r = row(rows, paper="L2Q-GCN", table="Table 2", dataset="gowalla", method="L2Q-GCN_anl", metric="recall", k=20)
    assert r["protocol"] == "clean" and r["reproduced"] == pytest.approx(0.17)


def test_capacity_recomputed(rows):
    r = row(rows, paper="L2Q-GCN", table="Table 2", dataset="gowalla", method="L2Q-GCN_end",
            metric="capacity_vs_lightgcn:recall", k=20)
    assert r["paper_value"] == pytest.approx(0.8213)
    assert r["reproduced"] == pytest.approx(0.148 / 0.185)
    assert r["protocol"] == "paper" and len(r["record"]) == 3     # model + two LightGCN seeds
    r = row(rows, paper="L2Q-GCN", table="Table 2", dataset="gowalla", method="L2Q-GCN_end",
            metric="capacity_vs_lightgcn:ndcg", k=20)
    assert r["reproduced"] == pytest.approx(0.248 / 0.31)
    # L2Q-GCN_anl has only a "clean" record and LightGCN only "paper" ones: no common protocol
    r = row(rows, paper="L2Q-GCN", table="Table 2", dataset="gowalla", method="L2Q-GCN_anl",
            metric="capacity_vs_lightgcn:recall", k=20)
    assert r["reproduced"] is None and r["status"] == "not-run" and r["record"] is None


def test_rel_change_and_ratios(rows):
    r = row(rows, paper="L2Q-GCN", table="Table 3", dataset="gowalla", method="L2Q-GCN_end", variant="w/o TQ",
            metric="rel_change:recall", k=20)
    assert r["reproduced"] == pytest.approx(-0.25)
    assert r["paper_value"] == pytest.approx(-0.2045)
    r = row(rows, paper="L2Q-GCN", table="Table 3", dataset="gowalla", method="L2Q-GCN_end", variant="Best",
            metric="recall", k=20)
    assert r["reproduced"] == pytest.approx(0.20)
    r = row(rows, paper="L2Q-GCN", table="Appendix Table 3", dataset="gowalla", method="L2Q-GCN_end",
            metric="embedding_size_ratio_vs_lightgcn")
    assert r["reproduced"] == pytest.approx(34.59 / 3.24) and r["paper_value"] == pytest.approx(10.68)
    r = row(rows, paper="L2Q-GCN", table="Appendix Table 3", dataset="gowalla", method="L2Q-GCN_end",
            metric="inference_time_ratio_vs_lightgcn")
    assert r["reproduced"] == pytest.approx(1.9)
    # Figure 5(a) takes the Appendix Table 3 records
    r = row(rows, paper="L2Q-GCN", table="Figure 5(a)", dataset="yelp2018", method="L2Q-GCN_end",
            metric="embedding_size")
    assert r["reproduced"] == pytest.approx(3.2) and "appendix-table-3" in r["record"]
    r = row(rows, paper="L2Q-GCN", table="Figure 5(a)", dataset="yelp2018", method="L2Q-GCN_end",
            metric="embedding_size_ratio_vs_lightgcn")
    assert r["reproduced"] == pytest.approx(34.04 / 3.2)


def test_units_and_dataset_rows(rows):
    r = row(rows, paper="LEGCF", table="Table 2", dataset="gowalla", method="UD", variant="dim=128",
            metric="num_params")
    assert r["reproduced"] == pytest.approx(9.07) and r["paper_value"] == pytest.approx(9.07)
    r = row(rows, paper="L2Q-GCN", table="Table 1", dataset="gowalla", metric="users")
    assert r["method"] == "" and r["k"] is None and r["reproduced"] == 29858 and r["paper_value"] == 29858
    r = row(rows, paper="LEGCF", table="Table 1", dataset="gowalla", metric="density")
    assert r["paper_value"] == pytest.approx(0.00084) and r["reproduced"] == pytest.approx(0.00084)
    r = row(rows, paper="LightGCN", table="Table 3", dataset="gowalla", metric="recall", k=20)
    assert r["paper_value"] == pytest.approx(0.1830) and r["reproduced"] == pytest.approx(0.1822)


def test_statuses(rows):
    pin = [r for r in rows if r["dataset"] == "pinterest"]
    assert pin and all(r["status"] == "missing-data" and r["reproduced"] is None for r in pin)
    r = row(rows, paper="L2Q-GCN", table="Table 2", dataset="yelp2018", method="LightGCN", metric="recall", k=20)
    assert (r["status"], r["reproduced"], r["protocol"], r["record"]) == ("not-run", None, None, None)
    assert all((r["status"] == "reproduced") == (r["reproduced"] is not None) for r in rows)
    assert not any(r["method"] == "NGCF" and r["reproduced"] is not None for r in rows)   # quick profile ignored


def test_availability_errors_mean_missing(results):
    def avail(ds):
        raise KeyError(ds)

    rows = build_report("full", results_root=results, data_available=avail)
    assert {r["status"] for r in rows if r["status"] != "not-implemented"} == {"reproduced", "missing-data"}


def test_other_profile(results):
    rows = build_report("quick", results_root=results, data_available=lambda ds: True)
    r = row(rows, paper="L2Q-GCN", table="Table 2", dataset="gowalla", method="NGCF", metric="recall", k=20)
    assert r["reproduced"] == pytest.approx(0.5) and r["profile"] == "quick"
    assert sum(r["status"] == "reproduced" for r in rows) == 1


def test_empty_results(tmp_path):
    rows = build_report("full", results_root=tmp_path, data_available=lambda ds: True)
    assert len(rows) == 739 and {r["status"] for r in rows} == {"not-run", "not-implemented"}
    optional = [r for r in rows if r["status"] == "not-implemented"]
    assert {(r["paper"], r["table"]) for r in optional} == {("LEGCF", "Table 2")}
    assert {r["method"] for r in optional} == {"ESAPN", "AutoEmb", "OptEmbed", "CISS"}


def test_not_implemented_wins_over_missing_data(tmp_path):
    rows = build_report("full", results_root=tmp_path, data_available=lambda ds: ds == "gowalla")
    yelp = [r for r in rows if r["paper"] == "LEGCF" and r["table"] == "Table 2" and r["dataset"] != "gowalla"]
    assert {r["status"] for r in yelp if r["method"] == "AutoEmb"} == {"not-implemented"}
    assert {r["status"] for r in yelp if r["method"] == "LEGCF"} == {"missing-data"}


def test_format_report(rows):
    text = format_report(rows)
    assert "== L2Q-GCN - Table 2" in text and "== LEGCF - Table 4" in text and "== LightGCN - Table 3" in text
    assert "capacity_vs_lightgcn:recall@20" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("gowalla") and "LightGCN" in ln and "recall@20" in ln
                and "reproduced" in ln)
    assert "0.178" in line and "0.185" in line and "+3.9%" in line
    assert text.splitlines()[-1].startswith("profile full: 739 cells;")


def test_cli_json(results, capsys):
    assert main(["report", "--json", "--results", str(results)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 739 and all(list(r) == list(ROW_KEYS) for r in rows)
    r = row(rows, paper="LightGCN", table="Table 3", dataset="gowalla", metric="recall", k=20)
    assert r["reproduced"] == pytest.approx(0.1822) and r["status"] == "reproduced"


def test_cli_text_and_profile(results, capsys):
    assert main(["report", "--profile", "quick", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "profile quick: 739 cells; 1 reproduced" in out


def test_cli_requires_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


def test_paper_numbers_fed_back_reproduce_derived_cells(tmp_path):
    """Records holding the paper's own values recompute its capacity, rel_change and ratio cells."""
    from qlib.reference import load_reference

    ref = load_reference("L2Q-GCN")
    derived = ref["metric"].isin(["capacity_vs_lightgcn", "rel_change"]) | ref["metric"].str.endswith("_ratio_vs_lightgcn")
    plain = ref[~derived]
    for (table, ds, method, variant), grp in plain.groupby(["table", "dataset_id", "method", "variant"]):
        metrics = {metric_key("L2Q-GCN", m, None if pd.isna(k) else int(k)): v
                   for m, k, v in zip(grp["metric"], grp["k"], grp["value_std"])}
        put(tmp_path, table=table, dataset=ds, method=method, variant=variant, seed=0, **metrics)
    rows = build_report("full", results_root=tmp_path, data_available=lambda ds: True)
    l2q = [r for r in rows if r["paper"] == "L2Q-GCN" and r["table"] != "Table 1"]
    assert all(r["status"] == "reproduced" for r in l2q)
    for r in l2q:
        metric = r["metric"]
        tol = 0.012 if metric.endswith("_ratio_vs_lightgcn") else 1.5e-4    # printed rounding (README I2-I4)
        assert r["reproduced"] == pytest.approx(r["paper_value"], abs=tol), r


def test_also_aliases_serve_other_tables(tmp_path):
    """One Table 2 run also fills Table 3's Best row and appendix Tables 4/5 cells it names."""
    write_record({"paper": "L2Q-GCN", "table": "Table 2", "dataset": "ml-1m", "method": "L2Q-GCN_end",
                  "variant": "", "protocol": "paper", "seed": 1, "metrics": {"recall@20": 0.2, "ndcg_hits@20": 0.4},
                  "config": {}, "wall_time_s": 0.0, "epochs": 1, "provenance": PROV,
                  "also": [["Table 3", "Best"], ["Appendix Table 4", "L=2"], ["Appendix Table 5", "d=256"]]},
                 "full", results_root=tmp_path)
    put(tmp_path, table="Table 3", dataset="ml-1m", method="L2Q-GCN_end", variant="w/o TQ", **{"recall@20": 0.15})
    rows = build_report("full", results_root=tmp_path, data_available=lambda ds: True)
    assert row(rows, table="Table 2", dataset="ml-1m", method="L2Q-GCN_end", metric="recall", k=20)["reproduced"] == 0.2
    assert row(rows, table="Table 3", dataset="ml-1m", method="L2Q-GCN_end", variant="Best", metric="recall",
               k=20)["reproduced"] == 0.2
    assert row(rows, table="Appendix Table 4", dataset="ml-1m", method="L2Q-GCN_end", variant="L=2",
               metric="ndcg", k=20)["reproduced"] == 0.4
    assert row(rows, table="Appendix Table 5", dataset="ml-1m", method="L2Q-GCN_end", variant="d=256",
               metric="recall", k=20)["reproduced"] == 0.2
    assert row(rows, table="Appendix Table 5", dataset="ml-1m", method="L2Q-GCN_end", variant="d=64",
               metric="recall", k=20)["status"] == "not-run"
    rel = row(rows, table="Table 3", dataset="ml-1m", method="L2Q-GCN_end", variant="w/o TQ",
              metric="rel_change:recall", k=20)
    assert rel["reproduced"] == pytest.approx((0.15 - 0.2) / 0.2)


def test_side_by_side_keeps_only_existing_rows(rows):
    from qlib.report import report_frame, side_by_side

    df = report_frame("L2Q-GCN", ["Table 3"], rows=rows)
    wide = side_by_side(df, metrics=["recall@20", "ndcg@20"])
    assert len(wide) == len(df[["dataset", "method", "variant"]].drop_duplicates())
    assert list(wide.columns[:2]) == [("recall@20", "paper"), ("recall@20", "ours")]
    best = wide.loc[("gowalla", "L2Q-GCN_end", "Best")]
    assert best[("recall@20", "ours")] == pytest.approx(0.20)
    assert best[("", "status")] == "not-run,reproduced"   # recall recorded, ndcg not
    assert df["gap %"].notna().any()
