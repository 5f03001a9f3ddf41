"""Command line: ``python -m qlib <command>``.

Commands:
- ``report [--json] [--profile full] [--results DIR]``: the papers' numbers beside ours.
- ``notebooks --profile {smoke,quick,full} --out DIR [--only NAME]``: execute the book's notebooks.

Add a command by writing an ``_add_<name>(subparsers)`` function that registers a subparser with
``set_defaults(func=...)`` (the function takes the parsed args and returns an exit status) and
calling it in :func:`build_parser`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence


def _run_report(args: argparse.Namespace) -> int:
    """Print the report as text or JSON."""
    from qlib.report import build_report, format_report

    rows = build_report(profile=args.profile, results_root=args.results)
    print(json.dumps(rows, indent=1) if args.json else format_report(rows))
    return 0


def _add_report(subparsers) -> None:
    """Register ``report``."""
    p = subparsers.add_parser("report", help="compare the papers' table cells with our results records")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of text tables")
    p.add_argument("--profile", default="full", help="results profile to read (default: full)")
    p.add_argument("--results", type=Path, default=None, metavar="DIR",
                   help="results root holding <profile>/ folders (default: the repository's results/)")
    p.set_defaults(func=_run_report)


def _run_notebooks(args: argparse.Namespace) -> int:
    """Execute the notebooks with papermill at the chosen profile."""
    import logging

    from qlib.notebooks import run_notebooks

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for row in run_notebooks(args.profile, args.out, args.only):
        shared = (f" (load {row['load_1min']} on {row['cpus']} CPUs: other work shared the CPU, so this time is "
                  "not comparable to a target)") if row["cpu_shared"] else ""
        print(f"{row['notebook']}: {row['profile']} profile, {row['seconds']} s{shared}", flush=True)
    return 0


def _add_notebooks(subparsers) -> None:
    """Register ``notebooks``."""
    p = subparsers.add_parser("notebooks", help="execute the book's notebooks headless at a profile")
    p.add_argument("--profile", default="quick", choices=("smoke", "quick", "full"))
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the executed copies")
    p.add_argument("--only", default=None, metavar="NAME", help="run only notebooks whose name contains NAME")
    p.set_defaults(func=_run_notebooks)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m qlib`` argument parser with all subcommands."""
    parser = argparse.ArgumentParser(prog="python -m qlib", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    _add_report(subparsers)
    _add_notebooks(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit status."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BrokenPipeError:  # output piped into e.g. `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1)
