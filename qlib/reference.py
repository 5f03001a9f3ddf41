"""The papers' printed numbers as data.

The tidy CSV files in ``qlib/reference/`` hold every table cell of the L2Q-GCN and LEGCF papers
(and a few LightGCN numbers) in long format with the columns
``paper,table,dataset,method,variant,metric,k,value,unit,notes``. Values are the printed tokens;
see ``shared/papers/README.md`` for the extraction rules.

:func:`load_reference` returns them as one DataFrame with a few derived columns:

- ``value`` stays text (the printed precision, e.g. ``0.04190``);
- ``value_num`` is the float; ``value_std`` is the value in the units used by our records
  (``%`` rows divided by 100, i.e. fractions; other units unchanged);
- ``dataset_id`` is the loader name (``ml-1m``, ``gowalla``, ...);
- ``base_metric`` is the ``base_metric=`` note of ``capacity_vs_lightgcn`` and ``rel_change`` rows
  (e.g. ``recall@20``), empty elsewhere;
- ``source`` is the CSV file name.
"""
from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import pandas as pd

__all__ = [
    "REFERENCE_DIR", "COLUMNS", "DATASET_IDS", "TABLE_FILES", "NON_TABLE_FILES",
    "dataset_id", "load_reference", "load_hparams", "load_claims", "parse_notes",
]

REFERENCE_DIR: Path = Path(__file__).resolve().parent / "reference"

#: the columns of every table CSV, in file order
COLUMNS: tuple[str, ...] = ("paper", "table", "dataset", "method", "variant", "metric", "k", "value",
                            "unit", "notes")

#: printed dataset name -> loader name
DATASET_IDS: Mapping[str, str] = MappingProxyType({
    "MovieLens": "ml-1m",
    "Gowalla": "gowalla",
    "Pinterest": "pinterest",
    "Yelp2018": "yelp2018",
    "Yelp2020": "yelp2020",
    "Amazon-book": "amazon-book",
})

#: known table files, in the order their rows appear in :func:`load_reference`
TABLE_FILES: tuple[str, ...] = (
    "l2q_gcn_table1_datasets.csv",
    "l2q_gcn_table2_main.csv",
    "l2q_gcn_table3_ablation.csv",
    "l2q_gcn_resources.csv",
    "l2q_gcn_layers.csv",
    "l2q_gcn_dims.csv",
    "legcf_table1_datasets.csv",
    "legcf_table2_main.csv",
    "legcf_table3_ablation.csv",
    "legcf_table4_backbones.csv",
    "lightgcn_paper.csv",
)

#: CSV files in the reference folder that are not result tables
NON_TABLE_FILES: tuple[str, ...] = ("claims.csv", "l2q_gcn_hparams.csv")


def dataset_id(name: str) -> str:
    """Loader name of a dataset given its printed name (``Gowalla`` -> ``gowalla``).

    Names that are already loader names (or unknown) are returned unchanged.
    """
    if name in DATASET_IDS:
        return DATASET_IDS[name]
    lowered = {k.lower(): v for k, v in DATASET_IDS.items()}
    return lowered.get(name.lower(), name)


def parse_notes(notes: str) -> dict[str, str]:
    """The ``key=value`` fields of a ``notes`` cell (fields separated by `` | ``).

    Fields without ``=`` are kept under their own text with an empty value.
    """
    out: dict[str, str] = {}
    for field in str(notes).split(" | "):
        field = field.strip()
        if not field:
            continue
        key, sep, value = field.partition("=")
        out[key.strip()] = value.strip() if sep else ""
    return out


def _table_files(directory: Path) -> list[Path]:
    """The table CSV files of ``directory``: the known ones in order, then any others sorted."""
    present = {p.name: p for p in directory.glob("*.csv")}
    known = [present[name] for name in TABLE_FILES if name in present]
    extra = sorted(p for name, p in present.items() if name not in TABLE_FILES and name not in NON_TABLE_FILES)
    return known + extra


def _read_table_csv(path: Path) -> pd.DataFrame:
    """Read one table CSV as text, check its columns and add the derived columns."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    if tuple(df.columns) != COLUMNS:
        raise ValueError(f"{path.name}: expected columns {COLUMNS}, got {tuple(df.columns)}")
    df["k"] = pd.array([int(v) if v != "" else pd.NA for v in df["k"]], dtype="Int64")
    df["value_num"] = df["value"].astype(float)
    pct = (df["unit"] == "%").to_numpy()
    df["value_std"] = df["value_num"].where(~pct, df["value_num"] / 100.0)
    df["dataset_id"] = [dataset_id(d) for d in df["dataset"]]
    df["base_metric"] = [parse_notes(n).get("base_metric", "") for n in df["notes"]]
    df["source"] = path.name
    return df


def load_reference(paper: str | None = None, directory: Path | None = None) -> pd.DataFrame:
    """All reference table cells as one DataFrame (optionally of one ``paper`` only).

    Columns: the CSV columns (``value`` as printed text, ``k`` nullable Int64, empty method/variant
    as ``""``) plus ``value_num``, ``value_std``, ``dataset_id``, ``base_metric`` and ``source``.
    ``claims.csv`` and ``l2q_gcn_hparams.csv`` are not included (see :func:`load_hparams`).
    """
    directory = REFERENCE_DIR if directory is None else Path(directory)
    frames = [_read_table_csv(p) for p in _table_files(directory)]
    if not frames:
        raise FileNotFoundError(f"no reference table CSV in {directory}")
    df = pd.concat(frames, ignore_index=True)
    if paper is not None:
        df = df[df["paper"] == paper].reset_index(drop=True)
    return df


def load_hparams(directory: Path | None = None) -> pd.DataFrame:
    """L2Q-GCN Appendix Table 2 (batch size, d_end, d_anl, learning rate, L2 coefficient per dataset).

    Same columns as :func:`load_reference`.
    """
    directory = REFERENCE_DIR if directory is None else Path(directory)
    return _read_table_csv(directory / "l2q_gcn_hparams.csv")


def load_claims(directory: Path | None = None) -> pd.DataFrame:
    """The running-text claims (``paper,claim,value,where``), all as text."""
    directory = REFERENCE_DIR if directory is None else Path(directory)
    return pd.read_csv(directory / "claims.csv", dtype=str, keep_default_na=False, encoding="utf-8")
