"""The papers' numbers beside ours: one row per reference table cell.

:func:`build_report` joins :func:`qlib.reference.load_reference` with the results records of a
profile (:func:`qlib.record.load_records`); :func:`format_report` prints the rows as text tables.

Matching rules
--------------
- A record matches a cell when ``paper``, ``table``, ``dataset`` (loader name; printed names in
  records are mapped), ``method`` and ``variant`` are equal, or when its ``also`` list names the
  cell's ``[table, variant]`` (one run serving several tables: L2Q-GCN's Table 2 run is Table 3's
  ``Best`` row, appendix Table 4's ``L=2`` and appendix Table 5's ``d=<its size>``). Exception: L2Q-GCN ``Figure 5(a)``
  cells also take ``Appendix Table 3`` records when they have none of their own (same experiment,
  same numbers in the paper).
- The metric looked up in ``record["metrics"]`` is ``f"{metric}@{k}"`` (``metric`` alone without k);
  for paper ``L2Q-GCN`` the metric ``ndcg`` is looked up as ``ndcg_hits@k`` (the paper's NDCG).
- Records that differ only in seed are averaged (mean; ``record`` is then the list of paths).
  ``n_seeds`` counts them and ``seed_std`` is their sample standard deviation (ddof = 1; None with
  one seed). Derived cells carry the ``n_seeds`` of the model's records and no ``seed_std``.
  When a cell has records under several protocols, ``paper`` is preferred, else the
  alphabetically first protocol.
- Derived cells are recomputed from our records: ``capacity_vs_lightgcn`` = ours(model) /
  ours(LightGCN) of the base metric; ``rel_change`` = (ours(variant) - ours(Best)) / ours(Best);
  ``*_ratio_vs_lightgcn`` = ours(LightGCN) / ours(model). The inputs must share a protocol.
  Because one table cell exists per base metric, the row's ``metric`` of these cells carries the
  base metric name: ``capacity_vs_lightgcn:recall`` (k=20 from the ``base_metric=recall@20`` note).

Units
-----
``paper_value`` and ``reproduced`` are fractions for ``%`` metrics (82.05% -> 0.8205); sizes
(MB), times (s), ratios (x) and counts keep the CSV's unit; ``million params`` cells divide the
record's raw ``num_params`` count by 1e6.
"""
from __future__ import annotations

from pathlib import Path
from statistics import fmean, stdev
from types import MappingProxyType
from typing import Callable, Iterable, Mapping

import pandas as pd

from qlib.record import load_records
from qlib.reference import dataset_id, load_reference

__all__ = [
    "ROW_KEYS", "STATUSES", "NOT_IMPLEMENTED", "TABLE_FALLBACKS", "PREFERRED_PROTOCOL", "metric_key", "build_report",
    "format_report",
]

#: the keys of every report row, in order
ROW_KEYS: tuple[str, ...] = ("paper", "table", "dataset", "method", "variant", "metric", "k", "paper_value",
                             "reproduced", "protocol", "profile", "status", "record",
                             "n_seeds", "seed_std")   # the last two added after the first release, at the end

STATUSES: tuple[str, ...] = ("reproduced", "missing-data", "not-run", "not-implemented")

#: (paper, table) -> methods of that table this project does not implement (optional baselines, said
#: in the chapter); their cells are ``not-implemented`` rather than ``not-run``
NOT_IMPLEMENTED: Mapping[tuple[str, str], frozenset[str]] = MappingProxyType({
    ("LEGCF", "Table 2"): frozenset({"ESAPN", "AutoEmb", "OptEmbed", "CISS"}),  # AutoML dimension search
})

PREFERRED_PROTOCOL = "paper"

#: (paper, table) -> table whose records also serve that table's cells
TABLE_FALLBACKS: Mapping[tuple[str, str], str] = MappingProxyType({
    ("L2Q-GCN", "Figure 5(a)"): "Appendix Table 3",
})

#: record value -> CSV unit, for units that differ from the record convention
_UNIT_SCALE: Mapping[str, float] = MappingProxyType({"million params": 1e-6})

_RATIO_SUFFIX = "_ratio_vs_lightgcn"
_BASELINE = "LightGCN"
_BEST = "Best"

CellKey = tuple[str, str, str, str, str]            # paper, table, dataset_id, method, variant
Estimates = dict[str, tuple[float, list[str], float | None]]   # protocol -> (mean, record paths, seed std)


# --------------------------------------------------------------------------- lookup

def metric_key(paper: str, metric: str, k: int | None) -> str:
    """The key of a reference metric in a record's ``metrics`` (``ndcg`` of L2Q-GCN -> ``ndcg_hits``)."""
    if paper == "L2Q-GCN" and metric == "ndcg":
        metric = "ndcg_hits"
    return metric if k is None else f"{metric}@{k}"


def _split_base(base_metric: str) -> tuple[str, int | None]:
    """``"recall@20"`` -> ``("recall", 20)``; ``"users"`` -> ``("users", None)``."""
    name, sep, k = base_metric.partition("@")
    return name, (int(k) if sep else None)


def _index_records(records: Iterable[dict]) -> dict[CellKey, list[dict]]:
    """Records grouped by (paper, table, dataset_id, method, variant)."""
    index: dict[CellKey, list[dict]] = {}
    for rec in records:
        paper, ds, method = str(rec.get("paper") or ""), dataset_id(str(rec.get("dataset") or "")), str(rec.get("method") or "")
        cells = [(str(rec.get("table") or ""), str(rec.get("variant") or ""))]
        cells += [(str(t), str(v)) for t, v in (rec.get("also") or [])]
        for table, variant in cells:
            index.setdefault((paper, table, ds, method, variant), []).append(rec)
    return index


def _estimates_in(records: list[dict], key: str, scale: float) -> Estimates:
    """Per protocol: the mean of ``metrics[key]`` over seeds (times ``scale``) and the record paths."""
    by_protocol: dict[str, list[dict]] = {}
    for rec in records:
        value = (rec.get("metrics") or {}).get(key)
        if value is not None:
            by_protocol.setdefault(str(rec.get("protocol")), []).append(rec)
    out: Estimates = {}
    for protocol, recs in by_protocol.items():
        recs = sorted(recs, key=lambda r: (str(r.get("seed")), str(r.get("_path"))))
        values = [float(r["metrics"][key]) * scale for r in recs]
        out[protocol] = (fmean(values), [str(r.get("_path")) for r in recs],
                         stdev(values) if len(values) > 1 else None)
    return out


def _estimates(index: dict[CellKey, list[dict]], cell: CellKey, key: str, unit: str) -> Estimates:
    """Estimates of one metric of one cell, using :data:`TABLE_FALLBACKS` when the cell has none."""
    scale = _UNIT_SCALE.get(unit, 1.0)
    found = _estimates_in(index.get(cell, []), key, scale)
    fallback = TABLE_FALLBACKS.get((cell[0], cell[1]))
    if not found and fallback is not None:
        found = _estimates_in(index.get((cell[0], fallback, *cell[2:]), []), key, scale)
    return found


def _choose_protocol(protocols: Iterable[str]) -> str | None:
    """``paper`` when available, else the alphabetically first protocol, else None."""
    protocols = sorted(set(protocols))
    if not protocols:
        return None
    return PREFERRED_PROTOCOL if PREFERRED_PROTOCOL in protocols else protocols[0]


# --------------------------------------------------------------------------- cell values

#: value, protocol, record path(s), number of seeds, seed std
Resolved = tuple[float | None, str | None, str | list[str] | None, int | None, float | None]
_NONE: Resolved = (None, None, None, None, None)


def _direct(index: dict[CellKey, list[dict]], cell: CellKey, key: str, unit: str) -> Resolved:
    """A cell read straight from the records."""
    est = _estimates(index, cell, key, unit)
    protocol = _choose_protocol(est)
    if protocol is None:
        return _NONE
    value, paths, std = est[protocol]
    return value, protocol, (paths[0] if len(paths) == 1 else paths), len(paths), std


def _combine(num: Estimates, den: Estimates, fn: Callable[[float, float], float], model: str = "num") -> Resolved:
    """``fn(num, den)`` under the preferred protocol both inputs have; record = all input paths; ``model``
    ("num" or "den") says which input is the model's, whose seed count the row carries."""
    protocol = _choose_protocol(set(num) & set(den))
    if protocol is None:
        return _NONE
    (a, pa, _), (b, pb, _) = num[protocol], den[protocol]
    if b == 0:
        return _NONE
    return fn(a, b), protocol, pa + pb, len(pa if model == "num" else pb), None


def _resolve(index: dict[CellKey, list[dict]], ref: Mapping) -> Resolved:
    """Our value of one reference cell (direct or derived)."""
    paper, table, ds, method, variant = ref["paper"], ref["table"], ref["dataset_id"], ref["method"], ref["variant"]
    metric, k, unit = ref["metric"], ref["k"], ref["unit"]
    cell: CellKey = (paper, table, ds, method, variant)
    if metric == "capacity_vs_lightgcn":
        key = metric_key(paper, *_split_base(ref["base_metric"]))
        baseline = _estimates(index, (paper, table, ds, _BASELINE, variant), key, "")
        return _combine(_estimates(index, cell, key, ""), baseline, lambda a, b: a / b)
    if metric == "rel_change":
        key = metric_key(paper, *_split_base(ref["base_metric"]))
        best = _estimates(index, (paper, table, ds, method, _BEST), key, "")
        return _combine(_estimates(index, cell, key, ""), best, lambda a, b: (a - b) / b)
    if metric.endswith(_RATIO_SUFFIX):
        key = metric_key(paper, metric[: -len(_RATIO_SUFFIX)], None)
        baseline = _estimates(index, (paper, table, ds, _BASELINE, variant), key, "")
        return _combine(baseline, _estimates(index, cell, key, ""), lambda a, b: a / b, model="den")
    return _direct(index, cell, metric_key(paper, metric, k), unit)


# --------------------------------------------------------------------------- report rows

def _default_availability() -> Callable[[str], bool] | None:
    """``qlib.data.is_available`` when that module can be imported, else None (status unknown)."""
    try:
        from qlib.data import is_available
    except ModuleNotFoundError as err:  # qlib/data.py not written yet; errors inside it still raise
        if err.name != "qlib.data":
            raise
        return None
    return is_available


def _row_metric(ref: Mapping) -> str:
    """The row's metric name: the CSV metric, plus ``:<base>`` for capacity/rel_change cells."""
    base = ref["base_metric"]
    return f"{ref['metric']}:{_split_base(base)[0]}" if base else ref["metric"]


def build_report(profile: str = "full", results_root: Path | None = None,
                 data_available: Callable[[str], bool] | None = None) -> list[dict]:
    """One row per reference cell with the paper's value and ours (see the module docstring).

    ``data_available(dataset_id)`` says whether a dataset's files are present locally; by default
    ``qlib.data.is_available`` (when it cannot be imported, no cell is marked ``missing-data``).
    Rows have exactly the keys of :data:`ROW_KEYS`, in that order.
    """
    available = data_available if data_available is not None else _default_availability()
    index = _index_records(load_records(profile, results_root))
    ref = load_reference()
    availability: dict[str, bool] = {}

    def has_data(ds: str) -> bool:
        if available is None:
            return True
        if ds not in availability:
            try:
                availability[ds] = bool(available(ds))
            except (KeyError, ValueError, FileNotFoundError):
                availability[ds] = False
        return availability[ds]

    rows = []
    for r in ref.to_dict("records"):
        k = None if pd.isna(r["k"]) else int(r["k"])
        r["k"] = k
        value, protocol, record, n_seeds, seed_std = _resolve(index, r)
        if value is not None:
            status = "reproduced"
        elif r["method"] in NOT_IMPLEMENTED.get((r["paper"], r["table"]), ()):
            status = "not-implemented"
        else:
            status = "not-run" if has_data(r["dataset_id"]) else "missing-data"
        rows.append(dict(zip(ROW_KEYS, (
            r["paper"], r["table"], r["dataset_id"], r["method"], r["variant"], _row_metric(r), k,
            float(r["value_std"]), value, protocol, profile, status, record, n_seeds, seed_std))))
    return rows


# --------------------------------------------------------------------------- text output

def _fmt(value: float | None) -> str:
    """Compact number: integers without decimals, large values with 2 decimals, else 4 significant."""
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) >= 1:
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.2f}"
    return f"{value:.4g}"


def _diff(paper: float, ours: float | None) -> str:
    """Relative difference of ours to the paper in percent, e.g. ``-3.1%``."""
    if ours is None or paper == 0:
        return ""
    return f"{100.0 * (ours - paper) / abs(paper):+.1f}%"


def _table_lines(rows: list[dict]) -> list[str]:
    """Aligned text lines of one paper/table group."""
    header = ("dataset", "method", "variant", "metric", "paper", "ours", "diff", "seeds", "sd", "status", "protocol")
    body = [(r["dataset"], r["method"] or "-", r["variant"] or "-",
             r["metric"] if r["k"] is None else f"{r['metric']}@{r['k']}",
             _fmt(r["paper_value"]), _fmt(r["reproduced"]), _diff(r["paper_value"], r["reproduced"]),
             r.get("n_seeds") or "-", _fmt(r.get("seed_std")), r["status"], r["protocol"] or "-") for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body)]
    numeric = {4, 5, 6, 7, 8}

    def line(cells) -> str:
        return "  ".join(str(c).rjust(w) if i in numeric else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header), line("-" * w for w in widths), *(line(b) for b in body)]


def format_report(rows: list[dict]) -> str:
    """Readable text tables grouped by paper/table, followed by a status summary.

    Metric values are fractions (paper percentages divided by 100); ``diff`` is the relative
    difference of ours to the paper's value; ``seeds`` the number of seeds ours averages and ``sd`` their
    standard deviation.
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["paper"], row["table"]), []).append(row)
    out: list[str] = []
    for (paper, table), grp in groups.items():
        done = sum(r["status"] == "reproduced" for r in grp)
        out += [f"== {paper} - {table}  ({done}/{len(grp)} reproduced)", *_table_lines(grp), ""]
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    profile = rows[0]["profile"] if rows else "-"
    out.append(f"profile {profile}: {len(rows)} cells; " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(out)


# --------------------------------------------------------------------------- notebook tables

def report_frame(paper: str, tables: Iterable[str], profile: str = "full", rows: list[dict] | None = None) -> pd.DataFrame:
    """The report rows of ``paper``'s ``tables`` as a DataFrame (the chapters' "beside the paper" tables),
    with ``gap %`` = relative difference of ours to the paper's value."""
    rows = build_report(profile) if rows is None else rows
    tables = set(tables)
    df = pd.DataFrame([r for r in rows if r["paper"] == paper and r["table"] in tables], columns=list(ROW_KEYS))
    df["gap %"] = 100 * (df["reproduced"].astype(float) - df["paper_value"]) / df["paper_value"].abs()
    return df


def side_by_side(df: pd.DataFrame, index=("dataset", "method", "variant"), metrics=None) -> pd.DataFrame:
    """Wide table: one row per ``index``, columns ``<metric>@<k>`` x (paper, ours), plus the number of seeds
    our values average (the most any cell of the row has) and a status column."""
    if df.empty:
        return df
    d = df.copy()
    d["cell"] = [m if pd.isna(k) else f"{m}@{int(k)}" for m, k in zip(d["metric"], d["k"])]
    if metrics is not None:
        d = d[d["cell"].isin(metrics)]
    order = list(dict.fromkeys(d["cell"]))
    wide = d.set_index([*index, "cell"])[["paper_value", "reproduced"]].unstack("cell", sort=False)
    wide = wide.rename(columns={"paper_value": "paper", "reproduced": "ours"}, level=0).swaplevel(0, 1, axis=1)
    wide = wide.reindex(columns=[(c, side) for c in order for side in ("paper", "ours")])
    keys = d.drop_duplicates(list(index))[list(index)]
    first = {v: i for i, v in enumerate(dict.fromkeys(keys[index[0]]))}   # group rows by the first index level
    keys = keys.sort_values(index[0], key=lambda col: col.map(first), kind="stable")
    wide = wide.reindex(keys.set_index(list(index)).index)
    if "n_seeds" in d:
        wide[("", "seeds")] = d.groupby(list(index), sort=False)["n_seeds"].max().astype("Int64")
    status = d.groupby(list(index), sort=False)["status"].agg(lambda s: ",".join(sorted(set(s))))
    wide[("", "status")] = status
    return wide
