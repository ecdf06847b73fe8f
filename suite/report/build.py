"""Store -> every report output: the one function `report` and `publish` both call."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite.report import aggregate, baselines, plots, tables
from suite.store import Problem, Store


@dataclass
class Report:
    """What a report run produced (paths relative to ``out``) and what it could not read."""

    out: Path
    tag: str
    header: str
    provenance: dict[str, Any]
    smoke_label: str | None
    problems: list[Problem]
    tables: list[tables.Table] = field(default_factory=list)
    table_files: dict[str, list[Path]] = field(default_factory=dict)
    figures: list[plots.Figure] = field(default_factory=list)
    runs_csv: Path | None = None
    unfinished: list[dict[str, Any]] = field(default_factory=list)


def header_text(prov: dict[str, Any], store_root: Path, smoke_label: str | None) -> str:
    counts = ", ".join(f"{v} {k}" for k, v in sorted(prov["status_counts"].items())) or "no cells"
    hardware = "; ".join(aggregate.hardware_label(hw) for hw in prov["hardware"]) or "unknown"
    commits = ", ".join(c[:12] for c in prov["git_commits"]) or "unknown"
    versions = prov["versions"][0] if prov["versions"] else {}
    lines = [
        f"Matrix: recipe(s) {', '.join(prov['recipes']) or 'none'}; {prov['n_cells']} cells ({counts}).",
        f"Hardware: {hardware}.",
        f"Code: commit {commits}{' (uncommitted changes)' if prov['git_dirty'] else ''}"
        + "".join(f"; {k} {v}" for k, v in versions.items() if v) + ".",
        f"Source: store {store_root} (python -m suite report).",
    ]
    if smoke_label:
        lines.insert(0, f"NOTE: {smoke_label}.")
    return "\n".join(lines)


def smoke_label(prov: dict[str, Any]) -> str | None:
    if not aggregate.is_smoke_cpu(prov):
        return None
    cores = sorted({hw.get("cpu_count") for hw in prov["hardware"] if hw.get("cpu_count")})
    core_text = "/".join(str(c) for c in cores) or "?"
    return f"smoke-scale results on a {core_text}-core CPU, not paper-scale"


def build_report(store_root: str | Path, out: str | Path, baselines_dir: str | Path | None = None) -> Report:
    """Aggregate the store, write tables (md/html/tex/csv) and plots into ``out``."""
    store_root, out = Path(store_root), Path(out)
    store = Store(store_root)
    runs = aggregate.load_runs(store)
    bench, bench_problems = aggregate.load_bench(store)
    problems = runs.problems + bench_problems
    prov = aggregate.provenance_summary(runs)
    label = smoke_label(prov)
    tag = aggregate.condition_tag(prov)
    header = header_text(prov, store_root, label)
    report = Report(out=out, tag=tag, header=header, provenance=prov, smoke_label=label, problems=problems)

    summary = aggregate.summarize(runs)
    values = aggregate.metric_values(runs)
    delta = aggregate.deltas(runs, summary)
    ranks = aggregate.average_ranks(summary)
    profile = aggregate.performance_profile(summary)
    published = baselines.compare(baselines.load_baselines(baselines_dir), summary)

    trained_params = aggregate.run_act_params(runs)
    report.tables = [
        tables.leaderboard(summary, aggregate.parameter_overhead(runs),
                           aggregate.kernel_speed(bench, trained_params),
                           aggregate.train_step_speed(bench, trained_params)),
        tables.deltas_table(delta),
        tables.ranks_table(ranks, profile),
        tables.published_table(published),
    ]
    for table in report.tables:
        report.table_files[table.name] = tables.write_table(table, out, tag, header)
    out.mkdir(parents=True, exist_ok=True)
    report.runs_csv = out / f"runs-{tag}.csv"
    runs.frame.drop(columns=["path"]).to_csv(report.runs_csv, index=False)
    bad = runs.frame[runs.frame["status"] != "done"]
    report.unfinished = bad[["activation", "arch", "dataset", "recipe", "seed", "status", "attempts", "error"]] \
        .to_dict("records")
    report.figures = plots.all_figures(runs, values, summary, profile, out / "plots")
    from suite.report import history  # speed over commits, from the committed asv results

    report.figures += history.figures(out / "plots")
    return report
