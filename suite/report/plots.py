"""Figures of the report (seaborn on the Agg backend: no display needed).

Each function takes aggregated frames and an output folder, writes PNGs and returns
``Figure`` entries (path + caption) for the site. Figures:

- ``points-<metric>.png``: per column, each row's mean with its 95 % CI over seeds, rows
  sorted by mean, on an axis that spans the data (not bars from 0);
- ``shapes-<arch>-<dataset>.png``: the learned activation function of every layer, from the
  ``activation_shapes`` each train record carries (sampled by the task from the final
  model, i.e. from the same weights as the final checkpoint; checkpoints are not reopened);
- ``curves-<arch>-<dataset>.png``: training curves from the records' ``history``: the primary
  metric at each evaluation, one small panel per activation over ReLU's curve (mean and
  spread over seeds; diverged and failed runs keep the part of the curve they logged);
- ``pareto.png``: primary metric against speed relative to ReLU from the bench records
  (training step, else kernel fwd+bwd), Pareto front highlighted; never a run's own
  throughput, which includes compiling kernels on first use;
- ``profile.png``: the performance profile (fraction of columns within tau of the best).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from suite.report.aggregate import (  # noqa: E402
    COLUMN_KEYS, PRIMARY_METRIC, Runs, higher_is_better, metric_sort_key, pareto_front,
)

DPI = 110
# History keys that are bookkeeping, not curves worth a panel.
NOT_CURVES = {"lr", "learning_rate", "epoch", "samples", "tokens", "time", "wall_time_s", "elapsed_s"}


@dataclass
class Figure:
    path: Path
    caption: str


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", "-".join(str(p) for p in parts if p)).strip("-").lower()


def _column_name(row, show_recipe: bool) -> str:
    name = f"{row['arch']}/{row['dataset']}"
    return f"{name} [{row['recipe']}]" if show_recipe else name


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def metric_points(values: pd.DataFrame, out: Path) -> list[Figure]:
    """One figure per metric, one panel per column: each row's mean and 95 % CI over seeds
    as a point with an error bar, rows sorted best first, the axis fitted to the data."""
    figures = []
    if values.empty:
        return figures
    show_recipe = values["recipe"].nunique() > 1
    values = values.assign(column=values.apply(lambda r: _column_name(r, show_recipe), axis=1))
    for metric in sorted(values["metric"].unique(), key=metric_sort_key):
        data = values[values["metric"] == metric]
        columns = sorted(data["column"].unique())
        n_rows = data["activation"].nunique()
        fig, axes = plt.subplots(1, len(columns), figsize=(4.6 * len(columns), 1.4 + 0.26 * n_rows), squeeze=False,
                                 layout="constrained")
        try:
            higher = higher_is_better(metric)
        except Exception:
            higher = True
        for ax, col in zip(axes[0], columns):
            sel = data[data["column"] == col]
            order = sel.groupby("activation")["value"].mean().sort_values(ascending=not higher).index
            sns.pointplot(data=sel, y="activation", x="value", order=list(order), errorbar=("ci", 95),
                          linestyle="none", marker="o", markersize=4, capsize=0.3, err_kws={"linewidth": 1},
                          color="#2b5d9b", ax=ax)
            ax.set(xlabel=metric, ylabel="", title=col)
            ax.tick_params(axis="y", labelsize=7)
        fig.suptitle(f"{metric}: mean and 95 % CI over seeds (best first)")
        figures.append(Figure(_save(fig, out / f"points-{_slug(metric)}.png"),
                              f"{metric}: each activation's mean with its 95 % confidence interval over seeds, "
                              f"per architecture/data set, best first; a single seed shows a point without a bar."))
    return figures


def _shape_frame(runs: Runs, labels: dict[str, str]) -> pd.DataFrame:
    """Long frame of the learned shapes of the cells ``labels`` (key -> row label) names."""
    rows = []
    for key, label in labels.items():
        rec = runs.records[key]
        for layer, curve in (rec.get("activation_shapes") or {}).items():
            x, y = curve.get("x") or [], curve.get("y") or []
            for xi, yi in zip(x, y):
                rows.append({"activation": label, "layer": str(layer),
                             "x": float(xi), "y": float(yi)})
    return pd.DataFrame(rows, columns=["activation", "layer", "x", "y"])


def activation_shapes(runs: Runs, out: Path) -> list[Figure]:
    """Per column, one panel per activation with a line per layer (lowest done seed)."""
    figures = []
    done = runs.done()
    for column, cells in done.groupby(COLUMN_KEYS, sort=True):
        firsts = cells.sort_values("seed").groupby("activation").head(1)
        data = _shape_frame(runs, dict(zip(firsts["key"], firsts["activation"])))
        if data.empty:
            continue
        n_layers = data["layer"].nunique()
        grid = sns.relplot(data=data, x="x", y="y", hue="layer", col="activation",
                           col_wrap=min(4, data["activation"].nunique()), kind="line",
                           estimator=None, sort=False, height=2.4, aspect=1.1,
                           palette="viridis", legend=n_layers <= 8,
                           facet_kws={"sharey": False})
        grid.set_titles("{col_name}")
        arch, task, dataset, recipe = column
        grid.figure.suptitle(f"learned activations, {arch}/{dataset} (one line per layer)", y=1.03)
        figures.append(Figure(_save(grid.figure, out / f"shapes-{_slug(arch, dataset, recipe)}.png"),
                              f"Activation functions per layer after training, {arch}/{dataset} "
                              f"[{recipe}], lowest done seed (from the records' activation_shapes)."))
    return figures


def _history_frame(runs: Runs, cells: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for row in cells.itertuples(index=False):
        for point in runs.records[row.key].get("history") or []:
            step = point.get("step")
            if step is None:
                continue
            for metric, value in point.items():
                if metric == "step" or metric in NOT_CURVES or not isinstance(value, (int, float)) \
                        or isinstance(value, bool):
                    continue
                rows.append({"activation": row.activation, "seed": row.seed, "step": step,
                             "metric": metric, "value": float(value) if math.isfinite(value) else np.nan})
    return pd.DataFrame(rows, columns=["activation", "seed", "step", "metric", "value"])


def _curve_metric(data: pd.DataFrame, task: str) -> str:
    """The task's primary metric where it was evaluated at two steps or more (a curve), else
    the training loss, else the first logged metric."""
    steps = data.groupby("metric")["step"].nunique()
    for metric in (PRIMARY_METRIC.get(task), "train_loss"):
        if metric in steps.index and steps[metric] >= 2:
            return metric
    return sorted(steps.index, key=metric_sort_key)[0]


def training_curves(runs: Runs, out: Path, reference: str = "relu") -> list[Figure]:
    """Per column, small multiples: one panel per activation with its curve of the task's
    primary metric (mean and 95 % CI over seeds) over ``reference``'s curve in grey, panels
    best first by the last value. One panel each, because 20-odd coloured lines in one
    axis cannot be told apart."""
    figures = []
    for column, cells in runs.frame.groupby(COLUMN_KEYS, sort=True):
        data = _history_frame(runs, cells)
        if data.empty:
            continue
        arch, task, dataset, recipe = column
        metric = _curve_metric(data, task)
        data = data[data["metric"] == metric].dropna(subset=["value"])
        if data.empty:
            continue
        try:
            higher = higher_is_better(metric)
        except Exception:
            higher = False
        last = data[data["step"] == data.groupby("activation")["step"].transform("max")]
        order = list(last.groupby("activation")["value"].mean().sort_values(ascending=not higher).index)
        ref = data[data["activation"] == reference].groupby("step")["value"].mean()
        sparse = data["step"].nunique() < 4
        n_cols = min(6, len(order))
        n_rows = math.ceil(len(order) / n_cols)
        fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.25 * n_cols, 0.7 + 1.55 * n_rows), sharex=True,
                                 sharey=True, squeeze=False, layout="constrained")
        for ax, act in zip(axes.flat, order):
            if not ref.empty and act != reference:
                ax.plot(ref.index, ref.values, color="0.6", lw=1.2, ls="--")
            own = data[data["activation"] == act]
            sns.lineplot(data=own, x="step", y="value", errorbar=("ci", 95) if own["seed"].nunique() > 1 else None,
                         color="#2b5d9b", lw=1.3, marker="o" if sparse else None, markersize=3, ax=ax)
            ax.set_title(act, fontsize=8)
            ax.set(xlabel="", ylabel="")
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(order):]:
            ax.set_visible(False)
        fig.supxlabel("step", fontsize=9)
        fig.supylabel(metric, fontsize=9)
        against = f" against {reference} (grey, dashed)" if not ref.empty else ""
        fig.suptitle(f"{metric} during training, {arch}/{dataset} [{recipe}]: mean and 95 % CI over seeds"
                     f"{against}, best first", fontsize=10)
        figures.append(Figure(
            _save(fig, out / f"curves-{_slug(arch, dataset, recipe)}.png"),
            f"Training curves of {arch}/{dataset} [{recipe}]: {metric} at each evaluation, one panel per "
            f"activation (mean and 95 % CI over seeds){against}, best final value first."))
    return figures


def pareto(summary: pd.DataFrame, speed: pd.DataFrame | None, out: Path, what: str = "") -> list[Figure]:
    """Primary metric against time relative to ReLU (``speed``: rows x devices from the bench
    records, first device) per column; the Pareto front drawn and ringed. No bench
    records, no figure: a run's own throughput includes compiling kernels on first use."""
    if speed is None or speed.empty:
        return []
    device = speed.columns[0]
    primary = summary[summary["metric"] == summary["task"].map(PRIMARY_METRIC)]
    data = primary.assign(ratio=primary["activation"].map(speed[device])).dropna(subset=["mean", "ratio"])
    if data.empty:
        return []
    columns = sorted(data.groupby(COLUMN_KEYS).groups)
    fig, axes = plt.subplots(1, len(columns), figsize=(4.6 * len(columns), 3.8), squeeze=False)
    for ax, column in zip(axes[0], columns):
        sel = data[(data[COLUMN_KEYS] == pd.Series(column, index=COLUMN_KEYS)).all(axis=1)]
        metric = sel["metric"].iloc[0]
        front = pareto_front(sel["ratio"], sel["mean"], x_higher=False, y_higher=higher_is_better(metric))
        ax.errorbar(sel["ratio"], sel["mean"], yerr=sel["ci95"].fillna(0), fmt="o", ms=4, color="#2b5d9b",
                    ecolor="#9db4d3", elinewidth=1)
        pts = sel[front].sort_values("ratio")
        ax.plot(pts["ratio"], pts["mean"], "--", color="crimson", lw=1.2, label="Pareto front")
        ax.scatter(pts["ratio"], pts["mean"], s=120, facecolors="none", edgecolors="crimson")
        for _, r in sel.iterrows():
            ax.annotate(r["activation"], (r["ratio"], r["mean"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set(xlabel=f"{what} time / ReLU ({device}; lower is faster)", ylabel=metric, title=f"{column[0]}/{column[2]}")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return [Figure(_save(fig, out / "pareto.png"),
                   f"Primary metric (mean, 95 % CI) against {what} time relative to ReLU from `python -m suite bench` "
                   "records with the parameters each row trained; red: the Pareto front (no activation is both "
                   "faster and better).")]


def profile_plot(profile: pd.DataFrame, out: Path) -> list[Figure]:
    """Step plot of the performance profile of every activation."""
    if profile.empty:
        return []
    fig, ax = plt.subplots(figsize=(6, 3.6))
    sns.lineplot(data=profile, x="tau", y="fraction", hue="activation", drawstyle="steps-post", ax=ax)
    ax.set(xlabel="tau (ratio to the best in a column)", ylabel="fraction of columns",
           ylim=(-0.02, 1.02), title="performance profile")
    ax.legend(title="activation", bbox_to_anchor=(1.01, 1), loc="upper left", fontsize="small")
    return [Figure(_save(fig, out / "profile.png"),
                   "Performance profile: fraction of columns where an activation's primary metric is "
                   "within a factor tau of the best (AlgoPerf style; higher and further left is better).")]


def all_figures(runs: Runs, values: pd.DataFrame, summary: pd.DataFrame, profile: pd.DataFrame,
                out: Path, speed: pd.DataFrame | None = None, speed_what: str = "") -> list[Figure]:
    """Every figure; ``speed`` (rows x devices, time / ReLU's) places the Pareto plot."""
    sns.set_theme(style="whitegrid", context="paper")
    figures = []
    figures += metric_points(values, out)
    figures += activation_shapes(runs, out)
    figures += training_curves(runs, out)
    figures += pareto(summary, speed, out, speed_what)
    figures += profile_plot(profile, out)
    return figures
