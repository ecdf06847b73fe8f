"""`python -m suite`: list, run, bench, report, publish, data, doctor.

Each subsystem owns its subcommand: it exposes ``add_parser(subparsers)`` which registers
the subcommand and sets ``func(args) -> int``. This file only wires them together, lists
registries, and turns a ``SuiteError`` into one line on stderr with exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from suite.errors import SuiteError

# Subcommand owners, imported lazily so `--help` stays fast.
SUBCOMMANDS = {
    "run": "suite.launch.cli",
    "bench": "suite.bench.cli",
    "report": "suite.report.cli",
    "publish": "suite.report.cli",
    "data": "suite.data.cli",
    "doctor": "suite.doctor",
}

# `suite list KIND`: each returns a list of row dicts (column -> value), first row's keys
# are the table's columns.
LISTERS = {
    "activations": "suite.activations.catalog:rows",
    "architectures": "suite.architectures:catalog_rows",
    "tasks": "suite.tasks:catalog_rows",
    "datasets": "suite.data:catalog_rows",
    "matrices": "suite.matrix:catalog_rows",
}


def _load(spec: str):
    module, _, attr = spec.partition(":")
    mod = importlib.import_module(module)
    return getattr(mod, attr) if attr else mod


def print_rows(rows: list[dict], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    columns = list(rows[0]) if rows else []
    for col in columns:
        table.add_column(str(col))
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    Console(width=200).print(table)


def cmd_list(args) -> int:
    if args.data_root and args.kind != "datasets":
        raise SuiteError(f"--data-root is not accepted with 'list {args.kind}'; expected it only with 'list datasets'.")
    # datasets: the 'on disk' column for the data root that `run` and `data` would read
    rows = _load(LISTERS[args.kind])(*([args.data_root] if args.data_root else []))
    print_rows(rows, f"{len(rows)} {args.kind}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m suite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list registered activations, architectures, tasks, data sets, matrices")
    p.add_argument("kind", choices=sorted(LISTERS))
    p.add_argument("--data-root", default=None, help="datasets: the data root whose 'on disk' column is shown")
    p.set_defaults(func=cmd_list)
    seen = set()
    for owner in SUBCOMMANDS.values():
        if owner in seen:
            continue
        seen.add(owner)
        try:
            module = _load(owner)
        except ModuleNotFoundError as exc:
            if exc.name != owner:  # a broken import inside the module is a real error
                raise
            continue  # subsystem not installed in this checkout
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
