"""Execute the book's notebooks headless (papermill) and read back what they record.

Two small functions carry the whole flow, so the executor can change without touching notebooks:
:func:`execute_notebook` runs one notebook with injected parameters; :func:`save_summary` (called in a
notebook's last cell) writes the numbers other pages and tests need as JSON beside the executed copy.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["NOTEBOOK_DIR", "list_notebooks", "execute_notebook", "run_notebooks", "save_summary", "load_summary"]

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"


def list_notebooks(only: str | None = None) -> list[Path]:
    """The book's notebooks in order (``NN_name.ipynb``), optionally those whose name contains ``only``."""
    books = sorted(p for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    return [p for p in books if only is None or only in p.stem]


#: the kernel's matplotlib backend: inline, so figures land in the executed notebook whatever the
#: caller's ``MPLBACKEND`` (a headless ``MPLBACKEND=Agg`` would otherwise reach the kernel and drop them)
KERNEL_MPLBACKEND = "module://matplotlib_inline.backend_inline"


@contextlib.contextmanager
def _kernel_env(**values: str):
    """Environment variables set for kernels started inside the block, restored afterwards."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute_notebook(src: Path, dst: Path, parameters: dict[str, Any], timeout_s: int | None = None) -> Path:
    """Run ``src`` with papermill, injecting ``parameters`` into its ``parameters`` cell; write to ``dst``."""
    import papermill as pm

    dst.parent.mkdir(parents=True, exist_ok=True)
    with _kernel_env(MPLBACKEND=KERNEL_MPLBACKEND):
        pm.execute_notebook(str(src), str(dst), parameters=parameters, kernel_name="python3",
                            cwd=str(src.parent), progress_bar=False, log_output=False,
                            execution_timeout=timeout_s)
    return dst


def run_notebooks(profile: str, out_dir: Path, only: str | None = None) -> list[dict]:
    """Execute every notebook at ``profile`` into ``out_dir``; return one status row per notebook."""
    out_dir = Path(out_dir).resolve()
    rows = []
    for src in list_notebooks(only):
        t0 = time.perf_counter()
        execute_notebook(src, out_dir / src.name, {"PROFILE": profile, "OUTPUT_DIR": str(out_dir)})
        rows.append({"notebook": src.name, "profile": profile, "seconds": round(time.perf_counter() - t0, 1),
                     **cpu_load()})
        log.info("executed %s at %s in %.1f s", src.name, profile, rows[-1]["seconds"])
    return rows


def cpu_load() -> dict[str, Any]:
    """The 1-minute load average beside the CPU count, and whether other work shared the CPU (load above
    the count): a notebook's wall time is comparable to a target only when it did not. Torch's threads,
    one per CPU by default, slow down many times over when other processes hold some of the CPUs."""
    cpus = os.cpu_count() or 1
    try:
        load = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):   # no load average on this platform
        return {"cpus": cpus, "load_1min": None, "cpu_shared": None}
    return {"cpus": cpus, "load_1min": load, "cpu_shared": load > cpus}


def _nan_to_none(obj: Any) -> Any:
    """Empty table cells (NaN) become JSON null; everything else is kept."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


def save_summary(output_dir: str | os.PathLike, name: str, summary: dict[str, Any]) -> Path:
    """Write ``<output_dir>/<name>.summary.json`` atomically (used in each notebook's last cell).

    Summaries carry display tables, whose empty cells are NaN: they are written as null (records, unlike
    summaries, reject NaN)."""
    from .record import write_json

    return write_json(_nan_to_none(summary), Path(output_dir) / f"{name}.summary.json")


def load_summary(output_dir: str | os.PathLike, name: str) -> dict[str, Any]:
    return json.loads((Path(output_dir) / f"{name}.summary.json").read_text(encoding="utf-8"))
