"""Aggregate the store's train records into statistics over seeds (pandas + scipy).

One *row* of the leaderboard is an activation with its parameters ("hermite(degree=3)"),
one *column* a training condition: (arch, task, dataset, recipe with its overrides, e.g.
"smoke(steps=40)"); different configurations are never merged. For every row x column x
metric this module gives the mean, standard deviation (ddof=1), number of seeds, 95 %
Student-t confidence half-width, counts of failed, diverged, missing and non-finite seeds;
which rows the seeds separate (``suite.report.significance``: bold, tie-aware ranks, a
verdict per column); deltas against the ReLU and Swish runs of the same column with a
guarded paired t-test; average ranks across the columns that separate activations; and an
AlgoPerf-style performance profile. Nothing is hidden: a failed or diverged cell is counted
and shown, a done record without a finite metric is flagged with that reason, a record of
an activation this checkout does not register is shown but not ranked, and a store file
that cannot be read is returned as a problem with its path.

Which attempt of a cell counts: the newest finished one (done or diverged); a finished
result is never replaced by a later failed attempt; a cell that never finished is shown
with the status of its newest attempt.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from suite.errors import SuiteError
from suite.report import significance
from suite.store import STATUSES, Problem, Store

HIGHER_IS_BETTER = ("top1", "top5", "map", "map50")
LOWER_IS_BETTER = ("loss", "val_loss", "perplexity")
# The metric that ranks activations within a column, by task.
PRIMARY_METRIC = {"classification": "top1", "lm": "val_loss", "detection": "map"}
# Metric order in tables and plots (others follow alphabetically).
METRIC_ORDER = ("top1", "top5", "loss", "val_loss", "perplexity", "map", "map50")
COLUMN_KEYS = ["arch", "task", "dataset", "recipe"]
# Reference activations for deltas: the first name present in a column is used.
REFERENCES = {"relu": ("relu",), "swish": ("swish", "silu")}
RUN_COLUMNS = [
    "key", "activation", "act_name", "act_params", "arch", "task", "dataset", "recipe", "recipe_name",
    "overrides", "registered", "seed", "status", "attempts",
    "wall_time_s", "samples_per_s", "params_total", "params_activation", "preemptions",
    "error", "path",
]


def higher_is_better(metric: str) -> bool:
    """Direction of a metric: True for accuracies/mAP, False for losses/perplexity."""
    if metric in HIGHER_IS_BETTER:
        return True
    if metric in LOWER_IS_BETTER:
        return False
    raise SuiteError(
        f"metric {metric!r} has no known direction; expected one of "
        f"{', '.join(HIGHER_IS_BETTER + LOWER_IS_BETTER)}."
    )


def metric_sort_key(metric: str) -> tuple[int, str]:
    return (METRIC_ORDER.index(metric) if metric in METRIC_ORDER else len(METRIC_ORDER), metric)


@dataclass
class Runs:
    """The chosen attempt of every cell, as a frame (one row per cell id) plus raw records."""

    frame: pd.DataFrame
    records: dict[str, dict[str, Any]]
    problems: list[Problem] = field(default_factory=list)

    def done(self) -> pd.DataFrame:
        return self.frame[self.frame["status"] == "done"]


def choose_attempt(attempts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Newest finished (done/diverged) attempt, else the newest attempt; input oldest first."""
    finished = [r for r in attempts if r.get("status") in ("done", "diverged")]
    return (finished or list(attempts))[-1]


def _invalid_reason(rec: dict[str, Any]) -> str | None:
    cell = rec.get("cell")
    if not isinstance(cell, dict):
        return "train record without a 'cell' object"
    missing = [k for k in ("activation", "arch", "task", "dataset") if not cell.get(k)]
    if missing:
        return f"train record whose cell lacks {', '.join(missing)}"
    if rec.get("status") not in STATUSES:
        return f"train record with status {rec.get('status')!r}, expected one of {', '.join(STATUSES)}"
    if "key" not in rec:
        return "train record without a key"
    return None


def _number(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def error_text(error: Any) -> str | None:
    """One line of a failed attempt's error (records hold {type, message, traceback})."""
    if not error:
        return None
    if isinstance(error, dict):
        return f"{error.get('type', 'Error')}: {error.get('message', '')}".strip()
    return str(error).strip().splitlines()[-1] if str(error).strip() else None


def recipe_column(cell: dict[str, Any]) -> str:
    """A cell's recipe column: the recipe with its overrides (``embedded(steps=40)``); a trial
    capped by `suite run --max-steps N` is marked apart, so it never lands in the full
    recipe's (the paper's) column."""
    overrides = dict(cell.get("recipe_overrides") or {})
    cap = overrides.pop("max_steps", None)
    label = config_label(str(cell.get("recipe") or ""), overrides)
    return f"{label} [max_steps={cap}]" if cap else label


def config_label(name: str, params: Any) -> str:
    """A name with its parameters, as a row or column reads: ``hermite(degree=3)``; the bare
    name when there are none."""
    if not params:
        return name
    if not isinstance(params, dict):
        return f"{name}({params})"
    text = (f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in sorted(params.items()))
    return f"{name}({', '.join(text)})"


def is_registered(name: str) -> bool:
    """Whether this checkout registers the activation (imported here: only the report needs it)."""
    from suite.activations import ACTIVATIONS

    return name in ACTIVATIONS


def _run_row(rec: dict[str, Any], attempts: int, registered) -> dict[str, Any]:
    cell = rec["cell"]
    params = rec.get("params") or {}
    name, recipe = str(cell["activation"]), str(cell.get("recipe") or "")
    return {
        "key": rec["key"],
        "activation": config_label(name, cell.get("act_params")),
        "act_name": name,
        "act_params": params_key(cell.get("act_params")),
        "arch": str(cell["arch"]),
        "task": str(cell["task"]),
        "dataset": str(cell["dataset"]),
        "recipe": recipe_column(cell),  # overrides and a --max-steps trial are columns of their own
        "recipe_name": recipe,
        "overrides": params_key(cell.get("recipe_overrides")),
        "registered": bool(registered(name)),
        "seed": int(cell.get("seed", 0)),
        "status": rec["status"],
        "attempts": attempts,
        "wall_time_s": _number(rec.get("wall_time_s")),
        "samples_per_s": _number((rec.get("throughput") or {}).get("samples_per_s")),
        "params_total": _number(params.get("total")),
        "params_activation": _number(params.get("activation")),
        "preemptions": rec.get("preemptions") or 0,
        "error": error_text(rec.get("error")),
        "path": rec.get("_path"),
    }


def load_runs(store: Store | str | Path, registered=is_registered) -> Runs:
    """Read every train record; choose one attempt per cell; collect problems.

    ``registered(name)`` says whether an activation is known here; the rows of one that
    is not are kept (shown) but flagged, and never ranked."""
    store = store if isinstance(store, Store) else Store(Path(store))
    records, problems = store.load("train")
    by_key: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        reason = _invalid_reason(rec)
        if reason:
            problems.append(Problem(Path(rec.get("_path", "?")), reason))
            continue
        by_key.setdefault(rec["key"], []).append(rec)
    chosen = {key: choose_attempt(recs) for key, recs in by_key.items()}
    rows = [_run_row(rec, len(by_key[key]), registered) for key, rec in chosen.items()]
    frame = pd.DataFrame(rows, columns=RUN_COLUMNS)
    for name, paths in frame[~frame["registered"].astype(bool)].groupby("act_name")["path"]:
        problems.append(Problem(Path(str(paths.iloc[0])), f"activation {name!r} is not registered in this "
                                f"checkout ({len(paths)} record(s)): shown, not ranked"))
    frame = frame.sort_values(["arch", "dataset", "recipe", "activation", "seed"], ignore_index=True)
    return Runs(frame=frame, records=chosen, problems=problems)


def without_primary_value(runs: Runs) -> pd.DataFrame:
    """Done cells whose record has no finite value of their task's primary metric, with the
    reason (these count as done but contribute nothing, so the report must say why)."""
    rows = []
    for row in runs.done().itertuples(index=False):
        metric = PRIMARY_METRIC.get(row.task)
        value = _number((runs.records[row.key].get("metrics") or {}).get(metric))
        if metric and not math.isfinite(value):
            rows.append({"key": row.key, "reason": f"done, but its {metric} is {value!r} (not a finite number)"
                         if metric in (runs.records[row.key].get("metrics") or {})
                         else f"done, but its record has no {metric}"})
    return pd.DataFrame(rows, columns=["key", "reason"])


def metric_values(runs: Runs) -> pd.DataFrame:
    """Long frame of final metrics of done cells: one row per (cell, metric), finite only."""
    rows = []
    for row in runs.done().itertuples(index=False):
        metrics = runs.records[row.key].get("metrics") or {}
        for metric, value in metrics.items():
            value = _number(value)
            if math.isfinite(value):
                rows.append({**{k: getattr(row, k) for k in ["key", "activation", *COLUMN_KEYS, "seed"]},
                             "metric": metric, "value": value})
    return pd.DataFrame(rows, columns=["key", "activation", *COLUMN_KEYS, "seed", "metric", "value"])


def ci95_half_width(values: Sequence[float]) -> float:
    """Half-width of the two-sided 95 % Student-t interval of the mean (NaN for n < 2)."""
    n = len(values)
    if n < 2:
        return math.nan
    return float(stats.t.ppf(0.975, n - 1) * np.std(values, ddof=1) / math.sqrt(n))


SUMMARY_COLUMNS = ["activation", *COLUMN_KEYS, "metric", "mean", "std", "n", "ci95", "seeds_expected",
                   "n_failed", "n_diverged", "n_missing", "n_nonfinite", "registered", "is_best", "rank",
                   "p_vs_best", "p_vs_best_holm", "test_note", "verdict"]


def summarize(runs: Runs) -> pd.DataFrame:
    """Statistics per row (activation with parameters) x column x metric, with bookkeeping.

    Columns: activation, arch, task, dataset, recipe, metric, mean, std, n, ci95,
    seeds_expected (distinct seeds any row ran in this column), n_failed, n_diverged,
    n_missing (expected seeds this row has no record for), n_nonfinite (done seeds without
    a finite value of this metric), registered; and from ``significance.judge_column`` over
    the registered rows: is_best (bold: the best mean or not significantly worse), rank
    (tie-aware; NaN where the column does not separate rows), p_vs_best (paired t-test
    against the best row), p_vs_best_holm, test_note (why there is no p) and the column's
    verdict.
    """
    frame = runs.frame
    values = metric_values(runs)
    if frame.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    rows = []
    for col, col_cells in frame.groupby(COLUMN_KEYS, sort=True):
        expected = col_cells["seed"].nunique()
        col_values = values[(values[COLUMN_KEYS] == pd.Series(col, index=COLUMN_KEYS)).all(axis=1)]
        # A column where nothing finished still gets a row per activation (under its primary
        # metric) so that its failed and diverged cells are shown, never dropped.
        metrics = sorted(col_values["metric"].unique(), key=metric_sort_key) \
            or [PRIMARY_METRIC.get(col[COLUMN_KEYS.index("task")], "n/a")]
        for act, cells in col_cells.groupby("activation", sort=True):
            n_done = int((cells["status"] == "done").sum())
            base = dict(zip(COLUMN_KEYS, col), activation=act, seeds_expected=expected,
                        n_failed=int((cells["status"] == "failed").sum()),
                        n_diverged=int((cells["status"] == "diverged").sum()),
                        n_missing=int(expected - cells["seed"].nunique()),
                        registered=bool(cells["registered"].all()))
            for metric in metrics:
                sel = col_values[(col_values["activation"] == act) & (col_values["metric"] == metric)]
                vals = sel["value"].to_numpy()
                rows.append({**base, "metric": metric, "n": len(vals), "n_nonfinite": n_done - len(vals),
                             "mean": float(np.mean(vals)) if len(vals) else math.nan,
                             "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else math.nan,
                             "ci95": ci95_half_width(vals),
                             "_seeds": dict(zip(sel["seed"].astype(int), vals))})
    summary = pd.DataFrame(rows)
    summary = summary.assign(is_best=False, rank=math.nan, p_vs_best=math.nan, p_vs_best_holm=math.nan,
                             test_note="", verdict="")
    for (*_, metric), group in summary.groupby([*COLUMN_KEYS, "metric"]):
        try:
            higher = higher_is_better(metric)
        except SuiteError:
            summary.loc[group.index, "verdict"] = f"metric {metric!r} has no known direction: not ranked"
            continue
        ranked = group[group["registered"]]
        judged = significance.judge_column(dict(zip(ranked["activation"], ranked["_seeds"])), higher)
        summary.loc[group.index, "verdict"] = judged.verdict
        for idx, act in zip(ranked.index, ranked["activation"]):
            summary.loc[idx, "is_best"] = act in judged.top
            summary.loc[idx, "rank"] = judged.rank.get(act, math.nan)
            if act in judged.tests:
                summary.loc[idx, "p_vs_best"] = judged.tests[act].p_value
                summary.loc[idx, "p_vs_best_holm"] = judged.p_holm[act]
                summary.loc[idx, "test_note"] = judged.tests[act].reason
        summary.loc[group.index[~group["registered"]], "test_note"] = "activation not registered: not ranked"
    return summary[SUMMARY_COLUMNS]


def _pair_by_seed(values: pd.DataFrame, col: tuple, metric: str, act: str, ref: str):
    sel = values[(values[COLUMN_KEYS] == pd.Series(col, index=COLUMN_KEYS)).all(axis=1)
                 & (values["metric"] == metric)]
    a = sel[sel["activation"] == act].set_index("seed")["value"]
    b = sel[sel["activation"] == ref].set_index("seed")["value"]
    seeds = sorted(set(a.index) & set(b.index))
    return a.loc[seeds].to_numpy(), b.loc[seeds].to_numpy()


def deltas(runs: Runs, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Difference of each activation's mean against ReLU and Swish in the same column.

    ``delta`` = mean(activation) - mean(reference) over all their done seeds; ``p_value``
    is scipy's paired t-test (``ttest_rel``) over the seeds both ran, guarded by
    ``significance.paired_test`` (NaN below ``MIN_SEEDS`` pairs or when the paired
    differences are the same on every seed; ``test_note`` says which); ``n_pairs`` says
    how many pairs there were. Reported as is, not corrected for the number of rows.
    """
    summary = summarize(runs) if summary is None else summary
    values = metric_values(runs)
    columns = ["activation", *COLUMN_KEYS, "metric", "reference", "delta", "n_pairs", "p_value", "test_note"]
    rows = []
    for (col_metric), group in summary.groupby([*COLUMN_KEYS, "metric"], sort=True):
        col, metric = tuple(col_metric[:-1]), col_metric[-1]
        present = set(group["activation"])
        means = group.set_index("activation")["mean"]
        for label, candidates in REFERENCES.items():
            # The plain reference (no parameters) is the row named exactly so.
            ref = next((c for c in candidates if c in present), None)
            if ref is None:
                continue
            for act in sorted(present - {ref}):
                a, b = _pair_by_seed(values, col, metric, act, ref)
                test = significance.paired_test(a, b)
                rows.append({**dict(zip(COLUMN_KEYS, col)), "activation": act, "metric": metric,
                             "reference": ref, "delta": means[act] - means[ref],
                             "n_pairs": test.n_pairs, "p_value": test.p_value, "test_note": test.reason})
    return pd.DataFrame(rows, columns=columns)


def primary_means(summary: pd.DataFrame, metric_by_task: dict[str, str] | None = None) -> pd.DataFrame:
    """Wide frame: rows activations, columns (arch, task, dataset, recipe), values the mean of
    each column's primary metric; NaN where an activation has no done seed there."""
    metric_by_task = {**PRIMARY_METRIC, **(metric_by_task or {})}
    wanted = summary["metric"] == summary["task"].map(metric_by_task)
    if "registered" in summary:
        wanted &= summary["registered"].astype(bool)  # an unregistered activation is never ranked
    sel = summary[wanted]
    if sel.empty:
        return pd.DataFrame()
    return sel.set_index(["activation", *COLUMN_KEYS])["mean"].unstack(COLUMN_KEYS)


def _column_metric(column: tuple, metric_by_task: dict[str, str] | None = None) -> str:
    task = column[COLUMN_KEYS.index("task")]
    return {**PRIMARY_METRIC, **(metric_by_task or {})}[task]


def average_ranks(summary: pd.DataFrame, metric_by_task: dict[str, str] | None = None) -> pd.DataFrame:
    """Mean rank (1 = best; ties at the top share their places) of each row over the
    columns that separate activations (``summary['rank']`` of each column's primary metric;
    a column whose spread separates nothing ranks nobody). Sorted best first."""
    metric_by_task = {**PRIMARY_METRIC, **(metric_by_task or {})}
    out_columns = ["activation", "average_rank", "n_columns"]
    if summary.empty:
        return pd.DataFrame(columns=out_columns)
    primary = summary[(summary["metric"] == summary["task"].map(metric_by_task)) & summary["rank"].notna()]
    if primary.empty:
        return pd.DataFrame(columns=out_columns)
    out = primary.groupby("activation")["rank"].agg(average_rank="mean", n_columns="count").reset_index()
    return out.sort_values(["average_rank", "activation"], ignore_index=True)[out_columns]


def performance_ratios(summary: pd.DataFrame, metric_by_task: dict[str, str] | None = None) -> pd.DataFrame:
    """Per column, how far each activation is from the best: value/best for lower-is-better
    metrics, best/value for higher-is-better ones (1 = best; inf where the activation has no
    value or a non-positive one)."""
    wide = primary_means(summary, metric_by_task)
    ratios = pd.DataFrame(index=wide.index, columns=wide.columns, dtype=float)
    for column in wide.columns:
        col = wide[column]
        higher = higher_is_better(_column_metric(column, metric_by_task))
        best = col.max() if higher else col.min()
        with np.errstate(divide="ignore", invalid="ignore"):
            r = best / col if higher else col / best
        r[(col <= 0) | col.isna() | ~np.isfinite(r)] = np.inf
        ratios[column] = r
    return ratios


def performance_profile(summary: pd.DataFrame, taus: Iterable[float] | None = None,
                        metric_by_task: dict[str, str] | None = None) -> pd.DataFrame:
    """AlgoPerf/Dolan-More profile: for each activation and tau, the fraction of all columns
    where its ratio to the best is <= tau. Long frame: activation, tau, fraction."""
    ratios = performance_ratios(summary, metric_by_task)
    if ratios.empty:
        return pd.DataFrame(columns=["activation", "tau", "fraction"])
    if taus is None:
        finite = ratios.to_numpy()[np.isfinite(ratios.to_numpy())]
        top = max(1.05, float(finite.max()) * 1.02 if finite.size else 1.05)
        taus = np.linspace(1.0, top, 101)
    taus = np.asarray(list(taus), dtype=float)
    n_columns = ratios.shape[1]
    rows = []
    for act, r in ratios.iterrows():
        r = r.to_numpy(dtype=float)
        for tau in taus:
            rows.append({"activation": act, "tau": float(tau), "fraction": float((r <= tau).sum() / n_columns)})
    return pd.DataFrame(rows)


def pareto_front(x: Sequence[float], y: Sequence[float], *, x_higher: bool = True,
                 y_higher: bool = True) -> np.ndarray:
    """Boolean mask of the points no other point beats on both axes (ties kept)."""
    x = np.asarray(x, dtype=float) * (1 if x_higher else -1)
    y = np.asarray(y, dtype=float) * (1 if y_higher else -1)
    mask = np.ones(len(x), dtype=bool)
    for i in range(len(x)):
        dominated = (x >= x[i]) & (y >= y[i]) & ((x > x[i]) | (y > y[i]))
        mask[i] = not dominated.any() and np.isfinite(x[i]) and np.isfinite(y[i])
    return mask


def parameter_overhead(runs: Runs) -> pd.Series:
    """Mean share of activation parameters in the model's parameters, per activation."""
    done = runs.done()
    share = done["params_activation"] / done["params_total"]
    return share.groupby(done["activation"]).mean().rename("activation_params_share")


# ---------------------------------------------------------------- kernel bench records

def _first(record: dict[str, Any], paths: Sequence[str]) -> Any:
    for path in paths:
        node: Any = record
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


# Field names of suite.bench records (a few spellings are accepted, so that a renamed
# field in the bench layer shows up as a missing ratio rather than a crash).
_BENCH_RATIO_PATHS = ("ratio_to_relu.fwdbwd", "ratio_to_relu.fwd_bwd", "fwdbwd.ratio_to_relu",
                      "fwd_bwd.ratio_to_relu", "ratios.fwdbwd.relu", "fwdbwd_ratio_to_relu",
                      "ratio_to_relu_fwdbwd", "ratio_to_relu")
_BENCH_COPY_PATHS = ("ratio_to_copy.fwdbwd", "ratio_to_copy.fwd_bwd", "fwdbwd.ratio_to_copy",
                     "fwd_bwd.ratio_to_copy", "fwdbwd_ratio_to_copy", "ratio_to_copy_fwdbwd",
                     "ratio_to_copy")
# Median fwd+bwd time, used to compute the ratio to ReLU when a record carries no ratio.
_BENCH_TIME_PATHS = ("fwdbwd.median_s", "fwdbwd.median", "fwd_bwd.median", "times.fwdbwd.median", "fwdbwd_median",
                     "fwdbwd_median_s", "median.fwdbwd")
BENCH_COLUMNS = ["benchmark", "activation", "params", "impl", "device", "dtype", "shape", "fwdbwd_median",
                 "ratio_to_relu", "ratio_to_copy"]


def params_key(params: Any) -> str:
    """Activation parameters as a canonical string ("" for none), to match bench records
    with the runs they describe (hermite degree 3 is not hermite degree 8)."""
    return json.dumps(params or {}, sort_keys=True)


def _scalar(value: Any) -> float:
    return math.nan if isinstance(value, (dict, list)) else _number(value)


def load_bench(store: Store | str | Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Bench records as a frame: benchmark ("kernel", or "train_step" for the end-to-end
    records), activation, params (``params_key``), impl, device, dtype, shape, fwd+bwd median
    time, ratio_to_relu (fwd+bwd time / ReLU's in the same run; a training step's time /
    ReLU's step for train_step), ratio_to_copy.

    A record without a ratio to ReLU gets one from its median time divided by ReLU's median
    for the same device, dtype and shape, when the store has that ReLU record."""
    store = store if isinstance(store, Store) else Store(Path(store))
    records, problems = store.load("bench")
    rows = []
    for rec in records:
        act = rec.get("activation")
        ratio = _scalar(_first(rec, _BENCH_RATIO_PATHS))
        median = _scalar(_first(rec, _BENCH_TIME_PATHS))
        if not act or (math.isnan(ratio) and math.isnan(median)):
            problems.append(Problem(Path(rec.get("_path", "?")),
                                    "bench record without activation, fwd+bwd ratio to ReLU or median time"))
            continue
        rows.append({"benchmark": str(rec.get("benchmark", "kernel")), "activation": str(act),
                     "params": params_key(rec.get("act_params")), "impl": str(rec.get("impl", "")),
                     "device": str(rec.get("device", "")), "dtype": str(rec.get("dtype", "")),
                     "shape": str(rec.get("shape", "")), "fwdbwd_median": median, "ratio_to_relu": ratio,
                     "ratio_to_copy": _scalar(_first(rec, _BENCH_COPY_PATHS))})
    bench = pd.DataFrame(rows, columns=BENCH_COLUMNS)
    if bench["ratio_to_relu"].isna().any():
        keys = ["benchmark", "device", "dtype", "shape"]
        relu = bench[bench["activation"] == "relu"].groupby(keys)["fwdbwd_median"].min()
        missing = bench["ratio_to_relu"].isna()
        base = bench.loc[missing, keys].apply(lambda r: relu.get(tuple(r), math.nan), axis=1)
        bench.loc[missing, "ratio_to_relu"] = bench.loc[missing, "fwdbwd_median"] / base
    return bench, problems


def _per_row(ratios: pd.DataFrame, rows: dict[str, tuple[str, str]] | None) -> pd.DataFrame:
    """Ratios indexed by (activation, params) -> indexed by leaderboard row: each row gets the
    ratios of the parameters it trained (none when benched only with others); without
    ``rows``, per activation name, the fastest parameters."""
    if rows is None:
        return ratios.groupby(level="activation").min()
    picked = {label: ratios.loc[config] for label, config in rows.items() if config in ratios.index}
    return pd.DataFrame(picked).T if picked else pd.DataFrame()


def kernel_speed(bench: pd.DataFrame, rows: dict[str, tuple[str, str]] | None = None) -> pd.DataFrame:
    """Per row and device: the fastest of the suite's own implementations (peers excluded),
    fwd+bwd time relative to ReLU, median over shapes and dtypes (>1 means slower than
    ReLU). ``rows`` (row label -> (activation, ``params_key``), see ``row_configs``): only
    bench records with the parameters that row trained."""
    if bench.empty:
        return pd.DataFrame()
    kernels = bench[(bench["benchmark"] == "kernel") & ~bench["impl"].str.startswith("peer:")]
    if kernels.empty:
        return pd.DataFrame()
    best_impl = kernels.groupby(["activation", "params", "device", "dtype", "shape"])["ratio_to_relu"].min()
    return _per_row(best_impl.groupby(["activation", "params", "device"]).median().unstack("device"), rows)


def train_step_speed(bench: pd.DataFrame, rows: dict[str, tuple[str, str]] | None = None) -> pd.DataFrame:
    """Per row and device: a training step's time relative to the same step with ReLU
    (``suite bench --end-to-end``), median over the models timed."""
    if bench.empty:
        return pd.DataFrame()
    steps = bench[bench["benchmark"] == "train_step"]
    if steps.empty:
        return pd.DataFrame()
    return _per_row(steps.groupby(["activation", "params", "device"])["ratio_to_relu"].median().unstack("device"),
                    rows)


def row_configs(runs: Runs) -> dict[str, tuple[str, str]]:
    """Row label -> (activation name, ``params_key`` of its parameters)."""
    frame = runs.frame.drop_duplicates("activation")
    return {label: (name, params) for label, name, params
            in zip(frame["activation"], frame["act_name"], frame["act_params"])}


# ---------------------------------------------------------------- provenance & conditions

def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def provenance_summary(runs: Runs) -> dict[str, Any]:
    """What produced the results: commits, dirty flags, library versions, hardware."""
    provs = [r.get("provenance") or {} for r in runs.records.values()]
    hardware = []
    for p in provs:
        hw = p.get("hardware") or {}
        entry = {k: hw.get(k) for k in ("cpu", "cpu_count", "gpu", "gpu_count")}
        if entry not in hardware:
            hardware.append(entry)
    versions = []
    for p in provs:
        if p.get("versions") and p["versions"] not in versions:
            versions.append(p["versions"])
    return {
        "git_commits": sorted({str(p.get("git_commit")) for p in provs if p.get("git_commit")}),
        "git_dirty": any(bool(p.get("git_dirty")) for p in provs),
        "versions": versions,
        "hardware": hardware,
        "platforms": sorted({str(p.get("platform")) for p in provs if p.get("platform")}),
        "recipes": sorted(set(runs.frame["recipe"])) if not runs.frame.empty else [],
        "n_cells": int(len(runs.frame)),
        "status_counts": runs.frame["status"].value_counts().to_dict() if not runs.frame.empty else {},
    }


def hardware_label(hw: dict[str, Any]) -> str:
    if hw.get("gpu"):
        count = hw.get("gpu_count") or 1
        return f"{count}x {hw['gpu']}"
    return f"{hw.get('cpu_count') or '?'}-core CPU ({hw.get('cpu') or 'unknown'})"


def is_smoke_cpu(prov: dict[str, Any]) -> bool:
    """Results from the smoke matrix (or embedded data) on machines without a GPU."""
    recipes = prov.get("recipes") or []
    smoke = bool(recipes) and all("smoke" in r or "embedded" in r or "tiny" in r for r in recipes)
    cpu_only = all(not hw.get("gpu") for hw in prov.get("hardware") or [{}])
    return smoke and cpu_only


def condition_tag(prov: dict[str, Any]) -> str:
    """timm-style file-name tag for the conditions, e.g. ``smoke-cpu`` or ``paper-a100``."""
    recipes = prov.get("recipes") or ["empty"]
    recipe_part = "+".join(_slug(r) for r in recipes) if len(recipes) <= 2 else "mixed"
    devices = {("cpu" if not hw.get("gpu") else _slug(str(hw["gpu"]).replace("NVIDIA", "")))
               for hw in prov.get("hardware") or []} or {"cpu"}
    device_part = devices.pop() if len(devices) == 1 else "mixed-hw"
    return f"{recipe_part}-{device_part}"
