"""Every notebook of the book executes headless at the smoke profile, and records what it shows."""
from __future__ import annotations

import json

import pytest

from qlib.notebooks import execute_notebook, list_notebooks, load_summary

pytestmark = pytest.mark.notebooks

NOTEBOOKS = list_notebooks()
#: notebooks whose smoke run draws figures, and how many at least
FIGURES = {"01_lightgcn": 1, "10_l2q_gcn": 3, "11_l2q_gcn_ablations": 2, "20_legcf": 4}


def test_the_book_has_its_notebooks():
    names = [p.stem for p in NOTEBOOKS]
    assert names[:3] == ["00_datasets", "01_lightgcn", "02_training_speed"] and "90_report" in names
    assert {"10_l2q_gcn", "11_l2q_gcn_ablations", "20_legcf"} <= set(names)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    out = tmp_path_factory.mktemp("executed")
    return out


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_at_smoke_profile(nb, executed):
    execute_notebook(nb, executed / nb.name, {"PROFILE": "smoke", "OUTPUT_DIR": str(executed)}, timeout_s=600)
    summary = load_summary(executed, nb.stem)
    assert summary["profile"] == "smoke"
    if nb.stem in FIGURES:   # figures must reach the executed notebook (the book shows nothing else)
        cells = json.loads((executed / nb.name).read_text())["cells"]
        images = sum("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))
        assert images >= FIGURES[nb.stem], f"{nb.stem}: {images} figures"
    if nb.stem == "00_datasets":
        mini = summary["counted"]["gowalla-mini"]
        assert (mini["users"], mini["items"], mini["interactions"]) == (3372, 4813, 108858)
    if nb.stem == "01_lightgcn":
        assert len(summary["live"]) == 3  # LightGCN paper setting (paper + clean) and L2Q-GCN's setting
        for row in summary["live"]:
            assert 0.0 < row["recall@20"] < 1.0 and row["epochs"] == 2
    if nb.stem == "02_training_speed":
        assert set(summary["live"]) == {"fast", "paper"}
    if nb.stem == "90_report":
        assert summary["cells"] >= 700 and set(summary["status"]) <= {"reproduced", "missing-data", "not-run",
                                                                         "not-implemented"}
    if nb.stem == "10_l2q_gcn":
        methods = {(r["method"], r["protocol"]) for r in summary["live"]}
        assert {("LightGCN", "paper"), ("L2Q-GCN_end", "clean"), ("L2Q-GCN_anl", "paper"), ("NGCF", "paper"),
                ("NeurCF", "paper"), ("HashGNN-soft", "paper"), ("Quant-gumbel", "paper"), ("LSH", "paper")} <= methods
        sizes = {r["method"]: r["size MiB (file)"] for r in summary["resources"]}
        assert 10.0 < sizes["LightGCN"] / sizes["L2Q-GCN_end"] < 10.7      # 32 / (L+1) less the file headers
        assert sizes["L2Q-GCN_end"] < sizes["L2Q-GCN_anl"] < sizes["LightGCN"]
        assert {r["table"] for r in summary["table2"]} == {"Table 2"}
    if nb.stem == "11_l2q_gcn_ablations":
        assert {(r["table"], r["variant"]) for r in summary["live"]} >= {
            ("Table 3", "w/o TQ"), ("Table 3", "w/o AT"), ("Appendix Table 4", "L=1"), ("Appendix Table 5", "d=128")}
        scape = summary["landscape_metrics"]
        assert scape["roughness_quantized"] > scape["roughness_full_precision"] >= 0
    if nb.stem == "20_legcf":
        live = {(r["table"], r["method"], r["variant"]): r for r in summary["live"]}
        assert len(live) == 14
        assert {v for (t, m, v) in live if t == "Table 4"} == {"backbone=LightGCN", "backbone=NGCF", "backbone=LR-GCCF"}
        legcf = live[("Table 2", "LEGCF", "")]
        assert legcf["#param"] == 500 * 128 + 2 * (3372 + 4813)   # c d + t N, the paper's count
        assert len(summary["fig3"]) == 20
        assert all(0 <= r["initial"] <= 1 and 0 <= r["final"] <= 1 and r["final_users"] >= 0 for r in summary["fig3"])
        stages = {(r["table"], r["variant"]): r for r in summary["stages_live"]}
        assert stages[("Table 2", "")]["updates"] and not stages[("Table 3", "assignment_update=off, init=METIS")]["updates"]
        assert all(0 <= r["end of pre-training"] <= 1 and r["P"] >= 0 for r in summary["stages_live"])
        assert summary["fidelity"] and all(0 < r["top_t_norm_share"] <= 1 and r["residual_top_t"] >= 0
                                           for r in summary["fidelity"])
        fig2 = summary["fig2_metrics"]
        assert 0 <= fig2["ndcg@20_init"] < fig2["ndcg@20_update"] and 0 < fig2["anchor_changed_frac"] < 1
        changed = [r for r in summary["fig4"] if not r["default"]]
        assert [(r["parameter"], r["value"]) for r in changed] == [("t", 1)]          # smoke: one live sweep point
        assert {r["parameter"] for r in summary["fig4"] if r["default"]} == {"t", "m", "w*", "c"}  # Table 2's run


def test_cpu_load_says_when_other_work_shared_the_cpu(monkeypatch):
    from qlib import notebooks

    monkeypatch.setattr(notebooks.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(notebooks.os, "getloadavg", lambda: (3.5, 1.0, 1.0))
    assert notebooks.cpu_load() == {"cpus": 2, "load_1min": 3.5, "cpu_shared": True}
    monkeypatch.setattr(notebooks.os, "getloadavg", lambda: (1.2, 1.0, 1.0))
    assert notebooks.cpu_load()["cpu_shared"] is False

    def unavailable():
        raise OSError("no load average")
    monkeypatch.setattr(notebooks.os, "getloadavg", unavailable)
    assert notebooks.cpu_load() == {"cpus": 2, "load_1min": None, "cpu_shared": None}
