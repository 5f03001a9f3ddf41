"""Shared pieces of the benchmark scripts: output-folder arguments and a wall-clock timer."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def add_output_args(p: argparse.ArgumentParser) -> None:
    """``--smoke`` (tiny sizes, results under results/smoke/bench) and ``--out`` (override the folder)."""
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--out", type=Path, default=None, help="default: results/bench (results/smoke/bench with --smoke)")


def parse_with_output(p: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse ``argv`` and resolve ``args.out`` to the benchmark records folder."""
    args = p.parse_args(argv)
    if args.out is None:
        args.out = REPO / "results" / ("smoke/bench" if args.smoke else "bench")
    return args


def timeit(fn, repeat: int = 5, warmup: int = 1) -> float:
    """Mean seconds of ``repeat`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat
