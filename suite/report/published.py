"""The published-vs-reproduced page: every published number beside the suite's runs, per paper.

For each number of ``baselines/*.csv`` (a paper's repeated runs of one configuration are
one number: their mean, with the paper's n) the page gives the matching reproduced mean,
its 95 % Student-t interval and n, the difference (reproduced - published) and whether the
published value lies inside our interval. A published gain (``<m>_gain_over_<act>``) is
compared with the reproduced gain over the seeds both activations ran (a paired interval).

Where no run exists yet the row names the shipped matrix whose cells reproduce it (blocks
that declare ``reproduces = ["<arXiv id>"]`` first, then the other paper matrices, then any)
and the exact command, with the GPU-hours ``suite run --dry-run`` would print for it. Rows
that cannot be matched say why (an activation, architecture or data set the suite lacks).
Numbers the papers hold but nobody could read (``baselines/missing.toml``) are listed under
their paper as missing, never filled in. Nothing here knows a particular paper: a new
baselines CSV and a matrix block that reproduces it are all a new paper needs.
"""
from __future__ import annotations

import functools
import html
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from suite.errors import SuiteError
from suite.report import baselines as bl
from suite.report.aggregate import HIGHER_IS_BETTER, ci95_half_width

MISSING_FILE = "missing.toml"
MISSING_FIELDS = ("paper", "arxiv", "what", "why")
# Published metric -> (the metric the suite records, how a percent value of it becomes the
# published one). ACON prints top-1 *error*; the suite records top-1 accuracy.
DERIVED_METRICS = {"top1_err": ("top1", lambda pct: 100.0 - pct)}
GROUP_KEYS = ["arxiv", "paper", "table", "activation", "arch", "task", "dataset", "metric"]
COLUMNS = [
    "arxiv", "paper", "table", "activation", "arch", "dataset", "metric",
    "published", "published_n", "published_runs", "secondary", "read_from", "source_url",
    "status", "reproduced", "ci95", "n", "difference", "inside_ci",
    "matched_activation", "matched_arch", "matched_recipe", "matrix", "command", "gpu_hours", "reason",
]


# ---------------------------------------------------------------- published side

def load_missing(directory: str | Path | None = None) -> list[dict[str, str]]:
    """``baselines/missing.toml``: the numbers nobody could read (none when absent)."""
    directory = bl.default_dir() if directory is None else Path(directory)
    path = directory / MISSING_FILE
    if not path.is_file():
        return []
    try:
        entries = tomllib.loads(path.read_text()).get("missing", [])
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path} is not valid TOML ({exc}).") from None
    for i, entry in enumerate(entries):
        lacking = [f for f in MISSING_FIELDS if not str(entry.get(f, "")).strip()]
        if lacking:
            raise SuiteError(f"{path} entry {i + 1}: field(s) {', '.join(lacking)} are empty; "
                             f"every missing number needs {', '.join(MISSING_FIELDS)}.")
    return entries


def published_numbers(baselines: pd.DataFrame) -> pd.DataFrame:
    """One row per published number: a paper's repeated runs of one configuration (same
    table, activation, architecture, data set, metric) become their mean with
    ``published_n`` and the runs as printed (``published_runs``); single numbers keep n = 1."""
    if baselines.empty:
        return pd.DataFrame(columns=[*GROUP_KEYS, "published", "published_n", "published_runs",
                                     "secondary", "read_from", "source_url", "recipe", "notes"])
    rows = []
    for key, group in baselines.groupby(GROUP_KEYS, sort=False):
        first = group.iloc[0]
        rows.append({**dict(zip(GROUP_KEYS, key)), "published": float(group["value"].mean()),
                     "published_n": len(group),
                     # as printed: str() of the float keeps the paper's digits (37.0, 0.53)
                     "published_runs": ", ".join(str(v) for v in group["value"]) if len(group) > 1 else "",
                     "secondary": bool(group["read_from"].map(bl.is_secondary).any()),
                     "read_from": first["read_from"], "source_url": first["source_url"],
                     "recipe": first["recipe"], "notes": first["notes"]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the suite's names

@dataclass
class Names:
    """Matching key -> registered name, for activations, architectures and data sets."""

    by_kind: dict[str, dict[str, str]]

    @classmethod
    def from_registries(cls) -> "Names":
        from suite.activations import ACTIVATIONS
        from suite.architectures import ARCHITECTURES
        from suite.data import DATASETS

        by_kind: dict[str, dict[str, str]] = {}
        for kind, registry in (("activation", ACTIVATIONS), ("arch", ARCHITECTURES), ("dataset", DATASETS)):
            keys = by_kind.setdefault(kind, {})
            for entry in registry:
                for name in (entry.name, *entry.aliases):
                    keys.setdefault(bl.canonical(kind, name), entry.name)
        return cls(by_kind)

    def suite_name(self, kind: str, paper_name: str, arxiv: str | None = None) -> str | None:
        return self.by_kind[kind].get(bl.canonical(kind, paper_name, arxiv))

    def store_key(self, kind: str, store_name: str) -> str:
        """A store's name resolved to the registered one where it is known (``swish`` -> ``silu``)."""
        return self.by_kind[kind].get(bl.canonical(kind, store_name), store_name)


# ---------------------------------------------------------------- which matrix reproduces it

@dataclass(frozen=True)
class CellRef:
    matrix: str
    reproduces: tuple[str, ...]
    activation: str
    arch: str
    dataset: str
    recipe: str


def matrix_cells(matrices: list[str] | None = None) -> list[CellRef]:
    """Every cell of the shipped matrices (or of ``matrices``), with its block's ``reproduces``."""
    from suite.matrix import _block_activations, shipped
    from suite.matrix import names as _names

    out = []
    for name in matrices if matrices is not None else shipped():
        matrix = _load(name)
        for block in matrix.spec.blocks:
            for act, _params in _block_activations(block):  # (name, its spec's parameters)
                for arch in block.archs:
                    out.append(CellRef(matrix.name, tuple(block.reproduces), act, _names.resolve_arch(arch),
                                       _names.check_dataset(block.dataset), block.recipe))
    return out


def _rank(ref: CellRef, arxiv: str) -> tuple:
    return (arxiv not in ref.reproduces, not ref.matrix.startswith("paper-"), ref.matrix)


def find_reproduction(cells: list[CellRef], arxiv: str, acts: list[str], arch: str,
                      dataset: str) -> CellRef | None:
    """The cell of ``acts[0]`` (in a matrix and recipe that also run ``acts[1:]``) that best
    reproduces a number of ``arxiv``: its paper's own block first."""
    have = {(c.matrix, c.recipe, c.activation) for c in cells if c.arch == arch and c.dataset == dataset}
    hits = [c for c in cells if c.activation == acts[0] and c.arch == arch and c.dataset == dataset
            and all((c.matrix, c.recipe, a) in have for a in acts[1:])]
    return min(hits, key=lambda c: _rank(c, arxiv)) if hits else None


def command_and_cost(ref: CellRef, acts: list[str]) -> tuple[str, float]:
    """The `suite run` command for these activations on the cell's architecture, and its
    GPU-hours (the same cells, hence the same number, as that command's --dry-run)."""
    return _command_and_cost(ref.matrix, tuple(acts), ref.arch)


@functools.lru_cache(maxsize=None)
def _load(matrix: str):
    from suite.matrix import load_matrix

    return load_matrix(matrix)


@functools.lru_cache(maxsize=None)
def _command_and_cost(matrix: str, acts: tuple[str, ...], arch: str) -> tuple[str, float]:
    from suite.matrix import expand
    from suite.matrix.cost import cost

    selected = expand(_load(matrix), activations=acts, archs=[arch])
    command = f"python -m suite run --matrix {matrix} " + " ".join(f"--act {a}" for a in acts) + f" --arch {arch}"
    return command, cost(selected).gpu_hours


# ---------------------------------------------------------------- reproduced side

def _gain(metric: str) -> tuple[str, str | None]:
    match = bl.GAIN.match(metric)
    return (match.group("metric"), match.group("ref")) if match else (metric, None)


def _percent(values: np.ndarray, metric: str) -> float:
    """100 for accuracy-like metrics stored as fractions (|values| <= 1), else 1."""
    return 100.0 if metric in HIGHER_IS_BETTER and len(values) and np.abs(values).max() <= 1.0 else 1.0


def _stats(values: np.ndarray) -> tuple[float, float, int]:
    return (float(np.mean(values)) if len(values) else math.nan, ci95_half_width(values), len(values))


def compare(baselines: pd.DataFrame, values: pd.DataFrame, cells: list[CellRef] | None = None,
            names: Names | None = None) -> pd.DataFrame:
    """Published next to reproduced, one row per published number (columns ``COLUMNS``).

    ``values`` is ``aggregate.metric_values``: one row per finished cell and metric.
    ``status``: "compared" (a run exists), "not run" (``matrix`` and ``command`` say how to
    run it) or "not matched" (``reason`` says what the suite lacks).
    """
    names = names or Names.from_registries()
    cells = matrix_cells() if cells is None else cells
    numbers = published_numbers(baselines)
    store = values.copy()
    for kind in ("activation", "arch", "dataset"):
        store[f"_{kind}"] = store[kind].map(lambda n, k=kind: names.store_key(k, n)) if len(store) else []
    rows = []
    for b in numbers.itertuples(index=False):
        row: dict[str, Any] = {c: getattr(b, c, "") for c in COLUMNS if hasattr(b, c)}
        row.update(status="not matched", reproduced=math.nan, ci95=math.nan, n=0, difference=math.nan,
                   inside_ci=None, matched_activation="", matched_arch="", matched_recipe="", matrix="",
                   command="", gpu_hours=math.nan, reason="")
        base, ref_name = _gain(b.metric)
        stored_metric, transform = DERIVED_METRICS.get(base, (base, None))
        act = names.suite_name("activation", b.activation, b.arxiv)
        ref = names.suite_name("activation", ref_name, b.arxiv) if ref_name else None
        arch = names.suite_name("arch", b.arch)
        dataset = names.suite_name("dataset", b.dataset)
        if act is None:
            row["reason"] = f"activation {b.activation!r} is not registered in the suite"
        elif ref_name and ref is None:
            row["reason"] = (f"the gain is over an unnamed {ref_name!r}: the paper does not name it"
                             if ref_name == "baseline" else
                             f"the reference activation {ref_name!r} is not registered in the suite")
        elif arch is None:
            row["reason"] = f"architecture {b.arch!r} has no build in the suite"
        elif dataset is None:
            row["reason"] = f"data set {b.dataset!r} is not registered in the suite"
        elif stored_metric not in HIGHER_IS_BETTER + ("loss", "val_loss", "perplexity"):
            row["reason"] = f"metric {stored_metric!r} is not measured by the suite"
        if row["reason"]:
            rows.append(row)
            continue
        acts = [act] + ([ref] if ref else [])
        found = find_reproduction(cells, b.arxiv, acts, arch, dataset)
        if found is not None:
            row["matrix"] = found.matrix
            row["command"], row["gpu_hours"] = command_and_cost(found, acts)
        _fill_reproduced(row, store, act, ref, arch, dataset, stored_metric, transform, found)
        if row["status"] != "compared":
            row["status"] = "not run"
            if found is None:
                row["reason"] = "no shipped matrix has this cell"
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _fill_reproduced(row, store, act, ref, arch, dataset, metric, transform, found) -> None:
    sel = store[(store["_arch"] == arch) & (store["_dataset"] == dataset) & (store["metric"] == metric)] \
        if len(store) else store
    mine = sel[sel["_activation"] == act]
    if mine.empty:
        return
    # The recipe of the reproducing matrix when the store ran it, else the most seeds.
    recipes = mine["recipe"].value_counts()
    recipe = found.recipe if found is not None and found.recipe in recipes.index else recipes.index[0]
    mine = mine[mine["recipe"] == recipe]
    if ref is None:
        vals = mine["value"].to_numpy(dtype=float)
        scale = _percent(vals, metric)
        vals = vals * scale
        if transform is not None:
            vals = transform(vals)
    else:  # paired over the seeds both ran
        other = sel[(sel["_activation"] == ref) & (sel["recipe"] == recipe)]
        pairs = mine.set_index("seed")["value"].to_frame("a").join(
            other.set_index("seed")["value"].to_frame("b"), how="inner")
        if pairs.empty:
            return
        scale = _percent(pairs.to_numpy(dtype=float).ravel(), metric)
        vals = (pairs["a"].to_numpy(dtype=float) - pairs["b"].to_numpy(dtype=float)) * scale
    mean, ci, n = _stats(vals)
    row.update(status="compared", reproduced=mean, ci95=ci, n=n, difference=mean - row["published"],
               inside_ci=bool(abs(mean - row["published"]) <= ci) if math.isfinite(ci) else None,
               matched_activation=act, matched_arch=arch, matched_recipe=recipe)


# ---------------------------------------------------------------- the page

def _num(value: float, digits: int = 2) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


SECONDARY_MARK = "†"
SECONDARY_NOTE = f"{SECONDARY_MARK} quoted by a secondary source, not read from the paper itself"


def display_rows(comp: pd.DataFrame) -> pd.DataFrame:
    """The page's columns as strings (one paper's rows or all)."""
    def published(r):
        text = str(r.published) if r.published_n == 1 else f"{r.published:.2f} (mean of {r.published_n}: {r.published_runs})"
        return text + (f" {SECONDARY_MARK}" if r.secondary else "")

    def reproduced(r):
        if r.status != "compared":
            return "not run" if r.status == "not run" else "cannot be matched"
        ci = f" ± {_num(r.ci95)}" if math.isfinite(r.ci95) else " (no interval: n < 2)"
        return f"{_num(r.reproduced)}{ci} (n={int(r.n)})"

    def inside(r):
        return "" if r.inside_ci is None or (isinstance(r.inside_ci, float) and math.isnan(r.inside_ci)) \
            else ("yes" if r.inside_ci else "no")

    def how(r):
        if r.status == "compared":
            return f"recipe {r.matched_recipe}"
        if r.command:
            return f"`{r.command}` ({r.gpu_hours:,.0f} GPU-hours)"
        return r.reason

    return pd.DataFrame({
        "source": [f"{r.table}" + (" (secondary)" if r.secondary else "") for r in comp.itertuples()],
        "activation": comp["activation"], "arch": comp["arch"], "dataset": comp["dataset"],
        "metric": comp["metric"],
        "published": [published(r) for r in comp.itertuples()],
        "reproduced (95% CI)": [reproduced(r) for r in comp.itertuples()],
        "difference": [("" if not math.isfinite(v) else f"{v:+.2f}") for v in comp["difference"]],
        "published inside CI": [inside(r) for r in comp.itertuples()],
        "run / reproduce with": [how(r) for r in comp.itertuples()],
    })


@dataclass
class PaperSection:
    arxiv: str
    paper: str
    rows: pd.DataFrame  # comparison rows of this paper
    missing: list[dict[str, str]]

    @property
    def counts(self) -> dict[str, int]:
        return {s: int((self.rows["status"] == s).sum()) for s in ("compared", "not run", "not matched")}

    def summary(self) -> str:
        c = self.counts
        sources = sorted(set(self.rows["read_from"])) if len(self.rows) else []
        text = (f"{len(self.rows)} published number(s): {c['compared']} compared with a run, "
                f"{c['not run']} not run yet, {c['not matched']} cannot be matched; "
                f"{len(self.missing)} table(s) missing.")
        if sources:
            text += " Read from: " + "; ".join(sources) + "."
        return text


def sections(comp: pd.DataFrame, missing: list[dict[str, str]]) -> list[PaperSection]:
    """One section per paper (arXiv id), in the order of the baselines, then papers that
    only have missing numbers."""
    out: dict[str, PaperSection] = {}
    for arxiv, rows in comp.groupby("arxiv", sort=False):
        out[arxiv] = PaperSection(arxiv, rows["paper"].iloc[0], rows, [])
    for entry in missing:
        arxiv = str(entry["arxiv"])
        if arxiv not in out:
            out[arxiv] = PaperSection(arxiv, entry["paper"], comp.iloc[0:0], [])
        out[arxiv].missing.append(entry)
    return list(out.values())


def _missing_line(entry: dict[str, str]) -> str:
    run = f" Our side: `python -m suite run --matrix {entry['matrix']}`." if entry.get("matrix") else ""
    return f"MISSING: {entry['what']} ({entry['why']}).{run}"


def to_markdown(comp: pd.DataFrame, missing: list[dict[str, str]], header: str = "") -> str:
    lines = ["# Published vs reproduced, per paper", ""]
    if header:
        lines += [f"- {h}" for h in header.splitlines()] + [""]
    lines += [f"Reproduced: mean over seeds ± 95 % Student-t half-width; difference = reproduced - published; "
              f"gains are paired over the seeds both activations ran. {SECONDARY_NOTE}.", ""]
    for sec in sections(comp, missing):
        lines += [f"## {sec.paper} (arXiv {sec.arxiv})", "", sec.summary(), ""]
        urls = sorted(set(sec.rows["source_url"])) if len(sec.rows) else []
        lines += [f"Source: {u}" for u in urls] + ([""] if urls else [])
        if len(sec.rows):
            lines += [display_rows(sec.rows).to_markdown(index=False, disable_numparse=True), ""]
        lines += [f"- {_missing_line(m)}" for m in sec.missing] + ([""] if sec.missing else [])
    return "\n".join(lines)


def to_html(comp: pd.DataFrame, missing: list[dict[str, str]]) -> str:
    """An HTML fragment (escaped) with one section per paper, for the site's front page."""
    esc = html.escape
    parts = [f'<p class="note">Reproduced: mean over seeds ± 95 % Student-t half-width; difference = '
             f"reproduced - published; gains are paired over the seeds both activations ran. "
             f"{esc(SECONDARY_NOTE)}.</p>"]
    for sec in sections(comp, missing):
        anchor = "paper-" + re.sub(r"[^0-9a-z]+", "-", sec.arxiv.lower())
        parts.append(f'<h3 id="{anchor}">{esc(sec.paper)} (arXiv {esc(sec.arxiv)})</h3>')
        parts.append(f"<p>{esc(sec.summary())}</p>")
        if len(sec.rows):
            shown = display_rows(sec.rows)
            shown["run / reproduce with"] = shown["run / reproduce with"].str.replace("`", "", regex=False)
            table_html = shown.to_html(index=False, escape=True, border=0, classes="published-vs-reproduced")
            # pandas adds its own "dataframe" class; the page styles (and tests find) its own name only
            table_html = table_html.replace('class="dataframe published-vs-reproduced"', 'class="published-vs-reproduced"')
            parts.append(f'<div class="scroll">{table_html}</div>')
        if sec.missing:
            parts.append("<ul class=\"missing\">" + "".join(f"<li>{esc(_missing_line(m))}</li>" for m in sec.missing)
                         + "</ul>")
    return "\n".join(parts)


def console_summary(comp: pd.DataFrame, missing: list[dict[str, str]]) -> list[str]:
    """Lines `suite report` prints: per paper, how many numbers are compared / runnable."""
    lines = []
    for sec in sections(comp, missing):
        lines.append(f"arXiv {sec.arxiv}: {sec.summary()}")
    return lines


def table(comp: pd.DataFrame):
    """Every paper's rows as one ``tables.Table`` (written as md/html/tex/csv like the others;
    the CSV holds the numbers of ``compare``)."""
    from suite.report.tables import Table

    display = display_rows(comp)
    display.insert(0, "paper", "arXiv " + comp["arxiv"].astype(str))
    display.index = pd.RangeIndex(1, len(display) + 1, name="#")
    best = pd.DataFrame(False, index=display.index, columns=display.columns)
    caption = ("Published numbers (baselines/*.csv) next to this suite's runs of the same activation, "
               "architecture, data set and metric: mean ± 95 % CI (n seeds), difference = reproduced - "
               f"published, gains paired over seeds; accuracies and errors in percent. {SECONDARY_NOTE}. "
               "Rows not run name the command that runs them.")
    return Table("published-vs-reproduced", display, best, comp, caption)
