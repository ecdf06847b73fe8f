"""`python -m suite report` (tables + plots) and `python -m suite publish` (the same + site)."""
from __future__ import annotations

from pathlib import Path

from suite.errors import SuiteError
from suite.store import default_root


def _add_common(p) -> None:
    p.add_argument("--store", type=Path, default=None,
                   help="result store to read (default: $SUITE_STORE or ./store)")
    # Not results/: that folder holds the committed board, which a user's quick start must
    # never overwrite; regenerating it is an explicit --out results (docs/readme/report.md).
    p.add_argument("--out", type=Path, default=Path("my-results"),
                   help="folder to write tables, plots (and index.html) into (default: my-results/; "
                        "the committed board is regenerated with --out results)")
    p.add_argument("--baselines", type=Path, default=None,
                   help="folder of published-number CSVs (default: the checkout's baselines/)")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("report", help="aggregate the store into leaderboard tables and plots")
    _add_common(p)
    p.set_defaults(func=cmd_report)
    p = subparsers.add_parser("publish", help="report, then write the static site (index.html) under --out")
    _add_common(p)
    p.set_defaults(func=cmd_publish)


def _build(args):
    from suite.report.build import build_report

    store = args.store if args.store is not None else default_root()
    if args.baselines is not None and not args.baselines.is_dir():
        raise SuiteError(f"baselines folder {str(args.baselines)!r} does not exist; expected a folder of CSV files.")
    if not (store / "records").is_dir():
        if args.store is not None:  # named on purpose: a typo must not pass for "no runs yet"
            raise SuiteError(f"store {str(store)!r} holds no records folder; expected a store written by "
                             "`python -m suite run` (pass it with --store or $SUITE_STORE).")
        # No run yet: the report still lists every published number and the command that
        # reproduces it (an empty store, made for the occasion).
        import tempfile

        print(f"note: no store at {store} yet; reporting the published numbers only.")
        with tempfile.TemporaryDirectory(prefix="suite-empty-store-") as empty:
            (Path(empty) / "records").mkdir()
            return build_report(empty, args.out, args.baselines)
    return build_report(store, args.out, args.baselines)


def _print_summary(report, extra: list[Path] = ()) -> None:
    from rich.console import Console

    console = Console(width=200, highlight=False)
    if report.smoke_label:
        console.print(f"[yellow]{report.smoke_label}[/yellow]")
    for problem in report.problems:
        console.print(f"[red]problem[/red] {problem.path}: {problem.reason}")
    files = [p for paths in report.table_files.values() for p in paths] + [f.path for f in report.figures]
    files += [report.runs_csv, report.published_page, *extra]
    if report.published_summary:
        console.print(f"published vs reproduced (per paper: {report.published_page}):")
        for line in report.published_summary:
            console.print(f"  {line}")
    console.print(f"wrote {len(files)} files into {report.out} (conditions: {report.tag}):")
    for path in files:
        console.print(f"  {path}")


def cmd_report(args) -> int:
    report = _build(args)
    _print_summary(report)
    return 0


def cmd_publish(args) -> int:
    from suite.report.site import write_site

    report = _build(args)
    index = write_site(report)
    _print_summary(report, [index])
    return 0
