"""`python -m suite`: list, run, bench, report, publish, data, doctor.

Each subsystem owns its subcommand: it exposes ``add_parser(subparsers)`` which registers
the subcommand and sets ``func(args) -> int``. This file only wires them together, lists
registries, loads ``--plugin`` activations, and turns a ``SuiteError`` into one line on
stderr with exit status 2.

Start-up imports only the subsystem of the command being run (``--help`` imports none, and
no torch): the other commands get a placeholder parser carrying their one-line help.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from suite.errors import SuiteError

# Subcommand owners, imported only when their command runs, so `--help` stays fast;
# the help line is shown by `python -m suite --help` without importing the owner.
SUBCOMMANDS = {
    "build": ("suite.build", "compile the C++ kernels now (else the first run that needs one builds it)"),
    "run": ("suite.launch.cli", "run a matrix of trainings (locally or on SLURM)"),
    "bench": ("suite.bench.cli", "time activations' forward/backward against copy and ReLU references"),
    "report": ("suite.report.cli", "aggregate the store into leaderboard tables and plots"),
    "publish": ("suite.report.cli", "report, then write the static site (index.html) under --out"),
    "data": ("suite.data.cli", "prepare or check data sets (see docs/readme/data-tasks.md)"),
    "doctor": ("suite.doctor", "check and time the GPU path: Triton kernels, training steps, a DDP cell"),
}
PLUGIN_HELP = ("import this module or .py file first: it registers your activations (repeatable; "
               "carried to worker processes and SLURM jobs). Installed packages that declare the "
               "entry-point group 'suite.activations' are imported without it")

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


def _command_in(argv: list[str]) -> str | None:
    """The subcommand named by ``argv`` (its first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the owner of the command it names is imported."""
    parser = argparse.ArgumentParser(prog="python -m suite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list registered activations, architectures, tasks, data sets, matrices")
    p.add_argument("kind", choices=sorted(LISTERS))
    p.add_argument("--data-root", default=None, help="datasets: the data root whose 'on disk' column is shown")
    p.set_defaults(func=cmd_list)
    wanted = _command_in(argv) if argv is not None else None
    # an entry is (owner, help line); a bare owner module name is accepted too (tests narrow the table)
    table = {c: (v, "") if isinstance(v, str) else v for c, v in SUBCOMMANDS.items()}
    wanted_owner = table.get(wanted, (None,))[0]
    real = set()
    for command, (owner, help_line) in table.items():
        if argv is not None and owner != wanted_owner:
            sub.add_parser(command, help=help_line)  # placeholder: never parsed
            continue
        if owner in real:
            continue
        try:
            module = _load(owner)
        except ModuleNotFoundError as exc:
            if exc.name != owner:  # a broken import inside the module is a real error
                raise
            continue  # subsystem not installed in this checkout
        before = set(sub.choices)
        module.add_parser(sub)
        real.add(owner)
        for name in set(sub.choices) - before:
            _add_plugin_option(sub.choices[name])
    _add_plugin_option(sub.choices["list"])
    return parser


def _add_plugin_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE_OR_FILE", help=PLUGIN_HELP)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        from suite import plugins

        for plugin in getattr(args, "plugin", None) or []:
            plugins.load(plugin)
        return int(args.func(args) or 0)
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
