"""Leaderboard tables (pandas): one display frame, written as Markdown, HTML, LaTeX and CSV.

Every table is built once as a frame of strings plus a boolean frame marking the bold
cells (the best and those the seeds do not separate from it); the writers only render it:
Markdown with ``**bold**`` (``to_markdown``), HTML and LaTeX through pandas' Styler (bold
via CSS, booktabs rules in LaTeX; every record-derived string escaped, since activation,
architecture and recipe names come from store files anyone may write). The CSV next to
each table holds the numbers behind it (tidy, machine-readable).
"""
from __future__ import annotations

import math
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from suite.errors import SuiteError
from suite.report.aggregate import COLUMN_KEYS, PRIMARY_METRIC, higher_is_better, metric_sort_key

# Metrics shown in the leaderboard per task (the CSV keeps every metric).
LEADERBOARD_METRICS = {"classification": ("top1", "loss"), "lm": ("val_loss", "perplexity"),
                       "detection": ("map", "map50")}
TASK_TITLES = {"classification": "Classification", "lm": "Language modelling", "detection": "Detection"}


@dataclass
class Table:
    """A rendered-ready table: strings, best-cell mask, numbers for the CSV, a caption."""

    name: str
    display: pd.DataFrame
    best: pd.DataFrame
    numbers: pd.DataFrame
    caption: str


def fmt(value: float, digits: int = 3) -> str:
    """Fixed decimals, 'n/a' for NaN."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def seed_note(row) -> str:
    """'n=5', or 'n=3/5, 1 failed, 1 diverged': seeds with a value over the seeds the column
    ran, with every reason a seed has none."""
    n, expected = int(row["n"]), int(row["seeds_expected"])
    note = f"n={n}" if n == expected else f"n={n}/{expected}"
    for count, word in ((row["n_failed"], "failed"), (row["n_diverged"], "diverged"),
                        (row["n_missing"], "missing"), (row.get("n_nonfinite", 0), "done without a value")):
        if count:
            note += f", {int(count)} {word}"
    if not row.get("registered", True):
        note += ", unregistered: not ranked"
    return note


def cell_text(row) -> str:
    """'0.953 ± 0.004 (n=5)': mean, 95 % CI half-width over seeds, seed count."""
    if row["n"] == 0:
        return f"— ({seed_note(row)})"
    spread = f" ± {fmt(row['ci95'])}" if row["n"] > 1 else ""
    return f"{fmt(row['mean'])}{spread} ({seed_note(row)})"


def column_label(column: tuple, metric: str, show_recipe: bool) -> str:
    parts = dict(zip(COLUMN_KEYS, column))
    label = f"{parts['arch']}/{parts['dataset']}"
    if show_recipe:
        label += f" [{parts['recipe']}]"
    return f"{label} {metric}"


def shown_metrics(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows whose metric the leaderboard shows for their task."""
    if frame.empty:
        return frame
    keep = [m in LEADERBOARD_METRICS.get(t, (m,)) for m, t in zip(frame["metric"], frame["task"])]
    return frame[keep]


def select(frame: pd.DataFrame, column: tuple, metric: str) -> pd.DataFrame:
    """Rows of one (arch, task, dataset, recipe) column and metric, indexed by activation."""
    mask = (frame[COLUMN_KEYS] == pd.Series(column, index=COLUMN_KEYS)).all(axis=1) & (frame["metric"] == metric)
    return frame[mask].set_index("activation")


def _share(value: float) -> str:
    return f"{100 * value:.3f} %" if math.isfinite(value) else "n/a"


def _speed(value: float) -> str:
    return f"{value:.2f}x" if math.isfinite(value) else "n/a"


def _row_order(task_summary: pd.DataFrame) -> list[str]:
    """Rows by their average rank over the task's ranked columns, then by the first
    column's primary mean (best first), then by name: ties stay side by side."""
    primary = task_summary[task_summary["metric"] == task_summary["task"].map(PRIMARY_METRIC)]
    rank = primary.groupby("activation")["rank"].mean()
    first = primary.sort_values(COLUMN_KEYS).groupby("activation").first()
    try:
        sign = -1.0 if higher_is_better(str(first["metric"].iloc[0])) else 1.0
    except (SuiteError, IndexError):
        sign = 1.0
    acts = sorted(task_summary["activation"].unique())
    key = {a: (rank.get(a, math.inf) if math.isfinite(rank.get(a, math.nan)) else math.inf,
               sign * first["mean"].get(a, math.nan) if math.isfinite(first["mean"].get(a, math.nan)) else math.inf,
               a) for a in acts}
    return sorted(acts, key=key.get)


def task_leaderboard(task: str, summary: pd.DataFrame, overhead: pd.Series | None = None,
                     speed: pd.DataFrame | None = None, step_speed: pd.DataFrame | None = None,
                     definitions: dict[str, str] | None = None) -> Table:
    """One task's table: rows (activation with its parameters) sorted by rank; per column
    and shown metric, mean ± 95 % CI half-width (n seeds); bold where the seeds do not
    separate a row from the best (``summary.is_best``); the task's rank; the activation
    parameter share; kernel fwd+bwd and training step time relative to ReLU, per device;
    ``definitions`` (activation -> the source its definition follows, and any deviation)
    as a footnote for the rows shown."""
    task_summary = summary[summary["task"] == task]
    shown = shown_metrics(task_summary)
    show_recipe = shown["recipe"].nunique() > 1 if not shown.empty else False
    activations = _row_order(task_summary)
    display = pd.DataFrame(index=pd.Index(activations, name="activation"))
    best = pd.DataFrame(index=display.index)
    primary = task_summary[task_summary["metric"] == PRIMARY_METRIC.get(task)]
    rank = primary.groupby("activation")["rank"].mean()
    display["rank"] = [fmt(rank.get(a, math.nan), 1).replace("n/a", "—") for a in activations]
    best["rank"] = False
    columns = sorted({(tuple(r[k] for k in COLUMN_KEYS), r["metric"]) for _, r in shown.iterrows()},
                     key=lambda cm: (cm[0], metric_sort_key(cm[1])))
    verdicts = []
    for column, metric in columns:
        label = column_label(column, metric, show_recipe)
        sel = select(shown, column, metric)
        display[label] = [cell_text(sel.loc[a]) if a in sel.index else "not run" for a in activations]
        best[label] = [bool(sel.loc[a, "is_best"]) if a in sel.index else False for a in activations]
        if metric == PRIMARY_METRIC.get(task) and not sel.empty:
            verdicts.append(f"{label}: {sel['verdict'].iloc[0]}.")
    if overhead is not None and not overhead.empty:
        display["act. params"] = [_share(overhead.get(a, math.nan)) for a in activations]
        best["act. params"] = False
    for frame, what in ((speed, "kernel"), (step_speed, "train step")):
        if frame is None or frame.empty:
            continue
        for device in frame.columns:
            label = f"{what} / ReLU ({device})"
            display[label] = [_speed(frame[device].get(a, math.nan)) for a in activations]
            best[label] = False
    caption = (f"{TASK_TITLES.get(task, task)}: mean ± 95 % CI half-width over seeds (n: seeds with a value / "
               "seeds the column ran; failed, diverged, missing and done-without-a-value seeds counted). "
               "Bold: the best mean and every activation not significantly worse than it (paired t-tests "
               "over seeds, Holm-corrected, alpha 0.05; a test needs 3 paired seeds): ties at the top share "
               "their rank. Rank: average over this task's columns that separate activations (— : none "
               "does). " + " ".join(verdicts))
    if (speed is not None and not speed.empty) or (step_speed is not None and not step_speed.empty):
        caption += (" Speed: `python -m suite bench` records with the parameters each row trained, "
                    "fwd+bwd kernel time and training-step time over ReLU's, timed alternating with it "
                    "(n/a: not benched).")
    names = sorted({str(label).partition("(")[0] for label in task_summary["activation"].unique()})
    shown_definitions = [f"{a}: {definitions[a]}" for a in names if (definitions or {}).get(a)]
    if shown_definitions:
        caption += " Definitions follow: " + "; ".join(shown_definitions) + "."
    return Table(f"leaderboard-{task}", display, best, task_summary, caption)


def leaderboards(summary: pd.DataFrame, overhead: pd.Series | None = None,
                 speed: pd.DataFrame | None = None, step_speed: pd.DataFrame | None = None,
                 definitions: dict[str, str] | None = None) -> list[Table]:
    """One leaderboard per task present (classification, lm, detection order)."""
    tasks = [t for t in TASK_TITLES if t in set(summary["task"])] if not summary.empty else []
    tasks += sorted(set(summary["task"]) - set(tasks)) if not summary.empty else []
    return [task_leaderboard(t, summary, overhead, speed, step_speed, definitions) for t in tasks]


def deltas_table(delta: pd.DataFrame) -> Table:
    """Δ against ReLU and Swish per column on its primary metric, with paired p-values."""
    if delta.empty:
        empty = pd.DataFrame(index=pd.Index([], name="activation"))
        return Table("deltas", empty, empty.copy(), delta, "No ReLU/Swish runs to compare with.")
    shown = delta[delta["metric"] == delta["task"].map(PRIMARY_METRIC)]
    show_recipe = shown["recipe"].nunique() > 1
    activations = sorted(shown["activation"].unique())
    display = pd.DataFrame(index=pd.Index(activations, name="activation"))
    keys = sorted({(tuple(r[k] for k in COLUMN_KEYS), r["metric"], r["reference"]) for _, r in shown.iterrows()},
                  key=lambda k: (k[0], metric_sort_key(k[1]), k[2]))
    for column, metric, ref in keys:
        label = f"{column_label(column, metric, show_recipe)} vs {ref}"
        sel = select(shown[shown["reference"] == ref], column, metric)
        texts = []
        for a in activations:
            if a not in sel.index:
                texts.append("")
                continue
            r = sel.loc[a]
            p = "n/a" if not math.isfinite(r["p_value"]) else f"{r['p_value']:.2g}"
            d = "n/a" if not math.isfinite(r["delta"]) else f"{r['delta']:+.3f}"
            texts.append(f"{d} (p={p}, n={int(r['n_pairs'])})")
        display[label] = texts
    best = pd.DataFrame(False, index=display.index, columns=display.columns)
    caption = ("Difference of means against ReLU and Swish of the same column (primary metric; the CSV "
               "has every metric); p: paired t-test over the n seeds both ran (scipy.stats.ttest_rel), "
               "not corrected for the number of rows; n/a below 3 pairs or when the difference is the "
               "same on every seed (no spread to test).")
    return Table("deltas", display, best, delta, caption)


def ranks_table(ranks: pd.DataFrame, profile: pd.DataFrame) -> Table:
    """Average rank over columns and the area under the performance profile."""
    display = pd.DataFrame(index=pd.Index(ranks["activation"], name="activation"))
    display["average rank"] = [fmt(v, 2) for v in ranks["average_rank"]]
    display["columns ranked"] = [str(int(v)) for v in ranks["n_columns"]]
    numbers = ranks.copy()
    if not profile.empty:
        area = profile.groupby("activation")["fraction"].mean()
        display["profile area"] = [fmt(area.get(a, math.nan), 3) for a in display.index]
        numbers["profile_area"] = numbers["activation"].map(area)
    # No bold: an average over columns is not itself tested.
    best = pd.DataFrame(False, index=display.index, columns=display.columns)
    caption = ("Average rank (1 = best; activations the seeds do not separate from the best share "
               "their places) by each column's primary metric, over the columns that separate "
               "activations; a column whose spread separates nothing ranks nobody. Profile area: mean "
               "over tau of the fraction of columns within a factor tau of the best mean "
               "(AlgoPerf-style performance profile).")
    return Table("ranks", display, best, numbers, caption)


def published_table(comparison: pd.DataFrame) -> Table:
    """Published and reproduced side by side with the difference (reproduced - published)."""
    display = pd.DataFrame({
        "source": "arXiv " + comparison["arxiv"] + ", " + comparison["table"],
        "activation": comparison["activation"], "arch": comparison["arch"],
        "dataset": comparison["dataset"], "metric": comparison["metric"],
        "published": [fmt(v, 2) for v in comparison["published"]],
        "reproduced": [("not run" if not math.isfinite(v) else fmt(v, 2) + (f" ± {fmt(s, 2)}" if math.isfinite(s) else "") + f" (n={n})")
                       for v, s, n in zip(comparison["reproduced"], comparison["reproduced_std"], comparison["n"])],
        "difference": ["" if not math.isfinite(v) else f"{v:+.2f}" for v in comparison["difference"]],
    })
    display.index = pd.RangeIndex(1, len(display) + 1, name="#")
    best = pd.DataFrame(False, index=display.index, columns=display.columns)
    caption = ("Published numbers (baselines/*.csv, read from the papers' tables) next to this "
               "suite's runs of the same activation, architecture, data set and metric; "
               "accuracies in percent; difference = reproduced - published; full citations in the CSV.")
    return Table("published-vs-reproduced", display, best, comparison, caption)


# ---------------------------------------------------------------- writers

def _bold_css(best: pd.DataFrame):
    return best.replace({True: "font-weight: bold;", False: ""})


def to_markdown(table: Table, header: str, tag: str = "") -> str:
    display = table.display.copy()
    for col in display.columns:
        display[col] = [f"**{v}**" if b else v for v, b in zip(display[col], table.best[col])]
    body = display.to_markdown(disable_numparse=True) if len(display.columns) else "_(no results)_"
    lines = "\n".join(f"- {line}" for line in header.splitlines())
    return f"# {table.name} ({tag})\n\n{lines}\n\n{table.caption}\n\n{body}\n"


def to_html(table: Table, header: str | None = None) -> str:
    if not len(table.display.columns):
        return "<p><em>(no results)</em></p>"
    styler = table.display.style.apply(lambda _: _bold_css(table.best), axis=None).hide(axis="index", names=True)
    styler = styler.format(escape="html").format_index(escape="html", axis=0).format_index(escape="html", axis=1)
    styler = styler.set_table_attributes(f'class="{html.escape(table.name)}"')
    text = styler.set_caption(html.escape(table.caption)).to_html()
    return f"<p>{header}</p>\n{text}" if header else text


def to_latex(table: Table, header: str) -> str:
    if not len(table.display.columns):
        return f"% {header}\n% (no results)\n"
    styler = table.display.style.apply(lambda _: _bold_css(table.best), axis=None).hide(axis="index", names=True)
    styler = styler.format(escape="latex").format_index(escape="latex", axis=0).format_index(escape="latex", axis=1)
    latex = styler.to_latex(hrules=True, convert_css=True, caption=table.caption.replace("%", r"\%"),
                            column_format="l" + "r" * len(table.display.columns))
    latex = latex.replace("±", r"$\pm$").replace("—", "--")
    comment = "\n".join(f"% {line}" for line in header.splitlines())
    return f"% requires \\usepackage{{booktabs}}\n{comment}\n{latex}"


def write_table(table: Table, out_dir: Path, tag: str, header: str) -> list[Path]:
    """Write ``<name>-<tag>.{md,html,tex,csv}``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{table.name}-{tag}"
    paths = [stem.with_suffix(s) for s in (".md", ".html", ".tex", ".csv")]
    paths[0].write_text(to_markdown(table, header, tag))
    html_header = html.escape(header).replace("\n", "<br>\n")
    paths[1].write_text(f"<!doctype html>\n<meta charset=\"utf-8\">\n<title>{html.escape(table.name)} "
                        f"{html.escape(tag)}</title>\n"
                        f"{to_html(table, html_header)}\n")
    paths[2].write_text(to_latex(table, header))
    table.numbers.to_csv(paths[3], index=False)
    return paths
