"""Figures of the report (seaborn on the Agg backend: no display needed).

Each function takes aggregated frames and an output folder, writes PNGs and returns
``Figure`` entries (path + caption) for the site. Figures:

- ``bars-<metric>.png``: mean of a metric per column and activation, error bars = std over seeds;
- ``shapes-<arch>-<dataset>.png``: the learned activation function of every layer, from the
  ``activation_shapes`` each train record carries (sampled by the task from the final
  model, i.e. from the same weights as the final checkpoint; checkpoints are not reopened);
- ``curves-<arch>-<dataset>.png``: training curves from the records' ``history`` (mean and
  spread over seeds; diverged and failed runs keep the part of the curve they logged);
- ``pareto.png``: primary metric against training throughput, Pareto front highlighted;
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


def metric_bars(values: pd.DataFrame, out: Path) -> list[Figure]:
    """One bar chart per metric: columns on x, activations as hue, std over seeds as bars."""
    figures = []
    if values.empty:
        return figures
    show_recipe = values["recipe"].nunique() > 1
    values = values.assign(column=values.apply(lambda r: _column_name(r, show_recipe), axis=1))
    for metric in sorted(values["metric"].unique(), key=metric_sort_key):
        data = values[values["metric"] == metric]
        n_cols = data["column"].nunique()
        fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * n_cols + 2.5), 3.6))
        sns.barplot(data=data, x="column", y="value", hue="activation", errorbar="sd",
                    capsize=0.1, err_kws={"linewidth": 1}, ax=ax)
        ax.set(xlabel="", ylabel=metric, title=f"{metric}: mean ± std over seeds")
        ax.legend(title="activation", bbox_to_anchor=(1.01, 1), loc="upper left", fontsize="small")
        figures.append(Figure(_save(fig, out / f"bars-{_slug(metric)}.png"),
                              f"{metric} per architecture/data set (error bars: std over seeds)."))
    return figures


def _shape_frame(runs: Runs, keys: list[str]) -> pd.DataFrame:
    rows = []
    for key in keys:
        rec = runs.records[key]
        for layer, curve in (rec.get("activation_shapes") or {}).items():
            x, y = curve.get("x") or [], curve.get("y") or []
            for xi, yi in zip(x, y):
                rows.append({"activation": rec["cell"]["activation"], "layer": str(layer),
                             "x": float(xi), "y": float(yi)})
    return pd.DataFrame(rows, columns=["activation", "layer", "x", "y"])


def activation_shapes(runs: Runs, out: Path) -> list[Figure]:
    """Per column, one panel per activation with a line per layer (lowest done seed)."""
    figures = []
    done = runs.done()
    for column, cells in done.groupby(COLUMN_KEYS, sort=True):
        firsts = cells.sort_values("seed").groupby("activation").head(1)
        data = _shape_frame(runs, list(firsts["key"]))
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


def training_curves(runs: Runs, out: Path) -> list[Figure]:
    """Per column: every logged metric against step, mean over seeds with its spread."""
    figures = []
    for column, cells in runs.frame.groupby(COLUMN_KEYS, sort=True):
        data = _history_frame(runs, cells)
        if data.empty:
            continue
        # Training loss first, then evaluation metrics (often logged at few steps: markers
        # keep a single evaluation point visible).
        metrics = sorted(data["metric"].unique(), key=lambda m: ("train" not in m, metric_sort_key(m)))[:4]
        data = data[data["metric"].isin(metrics)]
        grid = sns.relplot(data=data, x="step", y="value", hue="activation", col="metric",
                           col_order=metrics, kind="line", errorbar="sd", marker="o", markersize=4,
                           height=2.8, aspect=1.2,
                           facet_kws={"sharey": False})
        grid.set_titles("{col_name}")
        arch, task, dataset, recipe = column
        grid.figure.suptitle(f"training curves, {arch}/{dataset} [{recipe}] (mean ± std over seeds)", y=1.04)
        figures.append(Figure(_save(grid.figure, out / f"curves-{_slug(arch, dataset, recipe)}.png"),
                              f"Training curves of {arch}/{dataset} [{recipe}] from the records' history."))
    return figures


def pareto(runs: Runs, summary: pd.DataFrame, out: Path) -> list[Figure]:
    """Primary metric against training throughput per column; Pareto front drawn and ringed."""
    done = runs.done()
    throughput = done.groupby([*COLUMN_KEYS, "activation"])["samples_per_s"].mean().rename("samples_per_s")
    primary = summary[summary["metric"] == summary["task"].map(PRIMARY_METRIC)]
    data = primary.join(throughput, on=[*COLUMN_KEYS, "activation"]).dropna(subset=["mean", "samples_per_s"])
    if data.empty:
        return []
    columns = sorted(data.groupby(COLUMN_KEYS).groups)
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 3.6), squeeze=False)
    for ax, column in zip(axes[0], columns):
        sel = data[(data[COLUMN_KEYS] == pd.Series(column, index=COLUMN_KEYS)).all(axis=1)]
        metric = sel["metric"].iloc[0]
        front = pareto_front(sel["samples_per_s"], sel["mean"], x_higher=True, y_higher=higher_is_better(metric))
        sns.scatterplot(data=sel, x="samples_per_s", y="mean", hue="activation", s=60, ax=ax, legend=False)
        pts = sel[front].sort_values("samples_per_s")
        ax.plot(pts["samples_per_s"], pts["mean"], "--", color="crimson", lw=1.2, label="Pareto front")
        ax.scatter(pts["samples_per_s"], pts["mean"], s=160, facecolors="none", edgecolors="crimson")
        for _, r in sel.iterrows():
            ax.annotate(r["activation"], (r["samples_per_s"], r["mean"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set(xlabel="training throughput (samples/s)", ylabel=metric, title=f"{column[0]}/{column[2]}")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return [Figure(_save(fig, out / "pareto.png"),
                   "Primary metric against training throughput (samples/s, same machine); "
                   "red: the Pareto front (no activation is both faster and better).")]


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
                out: Path) -> list[Figure]:
    sns.set_theme(style="whitegrid", context="paper")
    figures = []
    figures += metric_bars(values, out)
    figures += activation_shapes(runs, out)
    figures += training_curves(runs, out)
    figures += pareto(runs, summary, out)
    figures += profile_plot(profile, out)
    return figures
