"""Store -> every report output: the one function `report` and `publish` both call."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite.report import aggregate, baselines, plots, published, tables
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
    published_page: Path | None = None  # the per-paper published-vs-reproduced page (Markdown)
    published_html: str = ""  # the same, as the site's leading HTML fragment
    published_summary: list[str] = field(default_factory=list)


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
    if all("smoke" in r for r in prov.get("recipes") or []):
        return f"smoke-scale results on a {core_text}-core CPU, not paper-scale"
    # The embedded board: real seeds and recipes, but small networks on small embedded data.
    return f"CPU-scale results (small networks on the embedded data sets, a {core_text}-core CPU), not paper-scale"


def definitions() -> dict[str, str]:
    """Activation -> "source (deviation: ...)" from the activation registry, for the
    leaderboard's footnote: what a row's name means."""
    from suite.activations import ACTIVATIONS  # the registry's metadata, not the store's

    out = {}
    for entry in ACTIVATIONS:
        source, deviation = entry.info.get("source") or "unknown source", entry.info.get("deviation")
        for name in (entry.name, *entry.aliases):  # records may name an activation by an alias
            out[name] = f"{source} (deviation: {deviation})" if deviation else source
    return out


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
    # Published numbers name activations, not configurations: match on the registered name.
    configs = aggregate.row_configs(runs)
    by_name = values.assign(activation=values["activation"].map(lambda a: configs.get(a, (a,))[0]))
    comparison = published.compare(baselines.load_baselines(baselines_dir), by_name)
    missing = published.load_missing(baselines_dir)

    kernel_speed = aggregate.kernel_speed(bench, configs)
    step_speed = aggregate.train_step_speed(bench, configs)
    report.tables = [
        published.table(comparison),  # first: the site leads with it
        *tables.leaderboards(summary, aggregate.parameter_overhead(runs), kernel_speed, step_speed,
                             definitions()),
        tables.deltas_table(delta),
        tables.ranks_table(ranks, profile),
    ]
    for table in report.tables:
        report.table_files[table.name] = tables.write_table(table, out, tag, header)
    out.mkdir(parents=True, exist_ok=True)
    report.published_page = out / f"published-by-paper-{tag}.md"
    report.published_page.write_text(published.to_markdown(comparison, missing, header))
    report.published_html = published.to_html(comparison, missing)
    report.published_summary = published.console_summary(comparison, missing)
    report.runs_csv = out / f"runs-{tag}.csv"
    runs.frame.drop(columns=["path"]).to_csv(report.runs_csv, index=False)
    # Unfinished: failed and diverged cells, and done cells without a finite primary metric
    # (their reason in the error column).
    empty = aggregate.without_primary_value(runs).set_index("key")["reason"]
    bad = runs.frame[(runs.frame["status"] != "done") | runs.frame["key"].isin(empty.index)].copy()
    bad["error"] = [empty.get(k, e) for k, e in zip(bad["key"], bad["error"])]
    report.unfinished = bad[["activation", "arch", "dataset", "recipe", "seed", "status", "attempts", "error"]] \
        .to_dict("records")
    # The Pareto plot's speed: a training step's time (what a user waits for) where it was
    # timed for every activation the kernel bench timed, else the kernel's (a step column for
    # two activations would leave a Pareto plot of two points; ReLU's own ratio is 1 either way).
    speed, what = ((step_speed, "training step") if not step_speed.empty
                   and set(kernel_speed.index) - {"relu"} <= set(step_speed.index) else (kernel_speed, "kernel fwd+bwd"))
    report.figures = plots.all_figures(runs, values, summary, profile, out / "plots", speed, what)
    from suite.report import history  # speed over commits, from the committed asv results

    report.figures += history.figures(out / "plots")
    return report
