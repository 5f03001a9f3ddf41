"""Results records: small JSON files with the numbers of one run and where they came from.

A record is a dict with at least the keys of :data:`REQUIRED_KEYS`::

    {"paper": "L2Q-GCN", "table": "Table 2", "dataset": "gowalla", "method": "LightGCN",
     "variant": "", "protocol": "paper", "seed": 2020,
     "metrics": {"recall@20": 0.1830, "ndcg@20": 0.1554, "ndcg_hits@20": 0.21},
     "config": {...}, "wall_time_s": 812.4, "epochs": 400}

``paper``/``table``/``method``/``variant`` are spelled as in the reference CSVs (``variant`` is
``""`` when there is none); ``dataset`` is the loader name (``gowalla``; printed names such as
``Gowalla`` are accepted and mapped by the report). Metric keys are ``"<metric>@<k>"`` for top-K
metrics (``recall@20``, ``ndcg@20`` standard NDCG, ``ndcg_hits@20`` the BiGeaR/L2Q-GCN convention,
``precision@20``) and plain names otherwise (``num_params`` as a raw count, ``embedding_size`` in
MB = MiB as printed by L2Q-GCN, ``inference_time`` in seconds, ``users``, ``items``,
``interactions``, ``density`` as a fraction). Optional keys: ``history``, ``best_epoch``,
``selection``, ``notes``.

:func:`write_record` adds ``profile`` and ``provenance`` and writes
``results/<profile>/<record_key>.json`` atomically; :func:`load_records` reads them back.
"""
from __future__ import annotations

import functools
import json
import math
import numbers
import os
import platform
import re
import subprocess
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

__all__ = [
    "REPO_ROOT", "RESULTS_ROOT", "REQUIRED_KEYS", "provenance", "record_key", "validate_record",
    "write_record", "load_records", "find_records",
]

REPO_ROOT: Path = Path(__file__).resolve().parent.parent
RESULTS_ROOT: Path = REPO_ROOT / "results"

REQUIRED_KEYS: tuple[str, ...] = ("paper", "table", "dataset", "method", "variant", "protocol", "metrics",
                                  "config", "seed", "wall_time_s", "epochs")

_KEY_FIELDS: tuple[str, ...] = ("paper", "table", "dataset", "method", "variant", "protocol")


# --------------------------------------------------------------------------- provenance

def _git(*args: str) -> str | None:
    """Output of a git command run in the repository root, or None when it fails."""
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _version(dist: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _qlib_version() -> str | None:
    """The project's version: ``qlib.__version__`` or the ``version`` in pyproject.toml, else None."""
    import qlib

    version = getattr(qlib, "__version__", None)
    if version:
        return str(version)
    pyproject = REPO_ROOT / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            return None
        version = data.get("project", {}).get("version")
        return str(version) if version else None
    return None


def _cpu_model() -> str | None:
    """CPU model name from /proc/cpuinfo, else ``platform.processor()``, else None."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _torch_info(device: str | None) -> tuple[int | None, str]:
    """(torch thread count, device string) — ``cpu`` or ``cuda:<name>`` when not given."""
    try:
        import torch
    except ImportError:
        return None, device or "cpu"
    if device is None:
        device = f"cuda:{torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
    return torch.get_num_threads(), device


#: where a copy of the repository without its .git learns the commit it was sent from
CODE_STATE_ENV = "QLIB_CODE_STATE"


@functools.lru_cache(maxsize=1)
def code_state() -> tuple[str | None, bool | None]:
    """``(git commit, tracked files modified)`` of the repository when this process first asked.

    A process runs the code it imported when it started, so later commits or edits of the working tree
    must not be attributed to its results: long-running scripts call this once at start-up (after importing
    everything they use) and every record they write carries that state."""
    commit = _git("rev-parse", "--verify", "-q", "HEAD")
    if commit is None and os.environ.get(CODE_STATE_ENV):
        # a copy of the tree without .git (a lent GPU machine): the state is passed in by whoever sent it,
        # as "<commit>" or "<commit>+dirty" (scripts/gpu_run.sh)
        given, _, flag = os.environ[CODE_STATE_ENV].strip().partition("+")
        return given or None, flag == "dirty"
    status = _git("status", "--porcelain", "--untracked-files=no")
    return commit or None, (None if status is None else bool(status))


def provenance(device: str | None = None) -> dict:
    """Where and with what a result was produced.

    Keys: ``git_commit`` (None outside a git repository or before the first commit), ``git_dirty``
    (tracked files modified; None outside a repository) - both as :func:`code_state` first saw them in
    this process, ``versions`` (python, torch, numpy, scipy,
    pandas, qlib), ``platform``, ``cpu``, ``n_threads``, ``device`` (given, else ``cpu`` or
    ``cuda:<name>``), ``created`` (UTC, ISO 8601).
    """
    commit, dirty = code_state()
    n_threads, device = _torch_info(device)
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": {
            "python": platform.python_version(),
            "torch": _version("torch"),
            "numpy": _version("numpy"),
            "scipy": _version("scipy"),
            "pandas": _version("pandas"),
            "qlib": _qlib_version(),
        },
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "n_threads": n_threads,
        "device": device,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


# --------------------------------------------------------------------------- keys and validation

def _slug(value: Any, empty: str) -> str:
    """Lower-case file-name fragment: runs of other characters than [a-z0-9] become ``-``."""
    text = re.sub(r"[^a-z0-9]+", "-", str(value if value is not None else "").lower()).strip("-")
    return text or empty


def record_key(rec: dict) -> str:
    """Stable file-name slug of a record from paper, table, dataset, method, variant, protocol, seed.

    Example: ``l2q-gcn__table-2__gowalla__lightgcn__default__paper__seed2020``. An empty method
    is ``none``, an empty variant ``default``, a None seed ``noseed``. Printed dataset names are
    mapped to loader names first, so ``Gowalla`` and ``gowalla`` give the same key.
    """
    from qlib.reference import dataset_id

    seed = rec.get("seed")
    parts = [
        _slug(rec.get("paper"), "none"),
        _slug(rec.get("table"), "none"),
        _slug(dataset_id(str(rec.get("dataset") or "")), "none"),
        _slug(rec.get("method"), "none"),
        _slug(rec.get("variant"), "default"),
        _slug(rec.get("protocol"), "none"),
        "noseed" if seed is None else f"seed{_slug(seed, 'none')}",
    ]
    return "__".join(parts)


def _is_number(value: Any) -> bool:
    """True for real numbers (Python or numpy), False for bools."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def validate_record(rec: dict) -> None:
    """Raise ValueError when a required key is missing or has the wrong type."""
    missing = [k for k in REQUIRED_KEYS if k not in rec]
    if missing:
        raise ValueError(f"record is missing required key(s): {', '.join(missing)}")
    for key in _KEY_FIELDS:
        if not isinstance(rec[key], str):
            raise ValueError(f"record key {key!r} must be a string, got {type(rec[key]).__name__}")
    if not isinstance(rec["metrics"], dict) or not rec["metrics"]:
        raise ValueError("record key 'metrics' must be a non-empty dict str -> float")
    for name, value in rec["metrics"].items():
        if not isinstance(name, str) or not _is_number(value) or not math.isfinite(float(value)):
            raise ValueError(f"metrics[{name!r}] must be a finite number, got {value!r}")
    if not isinstance(rec["config"], dict):
        raise ValueError("record key 'config' must be a dict")
    if rec["seed"] is not None and not isinstance(rec["seed"], numbers.Integral):
        raise ValueError(f"record key 'seed' must be an int or None, got {rec['seed']!r}")
    if rec["wall_time_s"] is not None and not _is_number(rec["wall_time_s"]):
        raise ValueError(f"record key 'wall_time_s' must be a number or None, got {rec['wall_time_s']!r}")
    if rec["epochs"] is not None and not isinstance(rec["epochs"], numbers.Integral):
        raise ValueError(f"record key 'epochs' must be an int or None, got {rec['epochs']!r}")


# --------------------------------------------------------------------------- reading and writing

def _json_default(obj: Any) -> Any:
    """JSON fallback for numpy scalars/arrays, paths, sets and tuples."""
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy scalars and arrays, torch tensors
        return obj.tolist()
    if isinstance(obj, Path):
        return obj.as_posix()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def _dumps(rec: dict) -> str:
    """The record as JSON text: indent 1, sorted keys, NaN/inf rejected."""
    return json.dumps(rec, indent=1, sort_keys=True, allow_nan=False, default=_json_default,
                      ensure_ascii=False) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(obj: dict, path: Path) -> Path:
    """Write any JSON-able dict atomically (indent 1, sorted keys, NaN rejected); used for records,
    benchmark results and notebook summaries alike."""
    path = Path(path)
    _atomic_write(path, _dumps(obj))
    return path


def write_record(rec: dict, profile: str, results_root: Path | None = None) -> Path:
    """Validate ``rec``, add ``profile`` and ``provenance`` if missing, write it, return the path.

    The file is ``<results_root>/<profile>/<record_key(rec)>.json`` (default root: ``results/`` of
    the repository); an existing file with the same key is replaced. ``rec`` itself is not modified;
    keys starting with ``_`` (such as ``_path`` from :func:`load_records`) are not written.
    Raises ValueError for a missing required key, a non-finite number, or a ``profile`` in ``rec``
    that differs from the argument.
    """
    validate_record(rec)
    if not isinstance(profile, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", profile):
        raise ValueError(f"profile must be a simple folder name, got {profile!r}")
    if rec.get("profile", profile) != profile:
        raise ValueError(f"record says profile {rec['profile']!r} but is written to profile {profile!r}")
    out = {k: v for k, v in rec.items() if not k.startswith("_")}
    out["metrics"] = {name: float(value) for name, value in rec["metrics"].items()}
    out["profile"] = profile
    if "provenance" not in out:
        out["provenance"] = provenance()
    text = _dumps(out)
    root = RESULTS_ROOT if results_root is None else Path(results_root)
    path = root / profile / f"{record_key(out)}.json"
    _atomic_write(path, text)
    return path


def _display_path(path: Path) -> str:
    """``path`` relative to the repository root when inside it, else absolute (POSIX form)."""
    path = path.resolve()
    try:
        return path.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def load_record(path: Path) -> dict:
    """One record file, with ``_path`` (relative to the repo root when inside it, else absolute)."""
    path = Path(path)
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); delete the file and re-run the experiment") from err
    if not isinstance(rec, dict):
        raise ValueError(f"{path}: a record must be a JSON object")
    rec["_path"] = _display_path(path)
    return rec


def load_records(profile: str = "full", results_root: Path | None = None) -> list[dict]:
    """All records of a profile, sorted by file name, each with ``_path`` (relative to the repo root
    when the file lies inside it, else absolute). A missing profile folder gives ``[]``."""
    root = RESULTS_ROOT if results_root is None else Path(results_root)
    folder = root / profile
    if not folder.is_dir():
        return []
    return [load_record(p) for p in sorted(folder.glob("*.json")) if not p.name.startswith(".")]


def find_records(records: Iterable[dict], **match: Any) -> list[dict]:
    """The records whose keys equal every ``key=value`` given (a missing key never matches)."""
    sentinel = object()
    return [r for r in records if all(r.get(k, sentinel) == v for k, v in match.items())]
