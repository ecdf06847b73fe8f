"""The median over seeds beside the mean, for tables that publish medians.

The Swish paper's CIFAR tables (arXiv 1710.05941, Tables 4-5), like the Wide ResNet
authors' own, print the median of 5 runs, while the leaderboard's statistics are means.
``seed_medians(runs)`` gives, per activation x column x metric, the median and the mean
of the done seeds side by side; ``python -m suite.report.medians --store DIR`` prints
the primary metric as "median (mean, n)" per activation and column, in percent for
accuracies, as the papers print them.
"""
from __future__ import annotations

import argparse

import pandas as pd

from suite.report.aggregate import COLUMN_KEYS, PRIMARY_METRIC, Runs, load_runs, metric_values


def seed_medians(runs: Runs) -> pd.DataFrame:
    """Columns: activation, arch, task, dataset, recipe, metric, median, mean, n."""
    values = metric_values(runs)
    keys = ["activation", *COLUMN_KEYS, "metric"]
    if values.empty:
        return pd.DataFrame(columns=[*keys, "median", "mean", "n"])
    grouped = values.groupby(keys)["value"]
    out = grouped.agg(median="median", mean="mean", n="count").reset_index()
    return out


def median_table(runs: Runs) -> pd.DataFrame:
    """Activations x (arch, dataset): "median (mean, n)" of each task's primary metric."""
    stats = seed_medians(runs)
    stats = stats[stats["metric"] == stats["task"].map(PRIMARY_METRIC)]
    if stats.empty:
        return pd.DataFrame()
    scale = stats["metric"].isin(("top1", "top5", "map", "map50")).map({True: 100.0, False: 1.0})
    stats = stats.assign(cell=[f"{m:.2f} ({a:.2f}, {n})" for m, a, n in
                               zip(stats["median"] * scale, stats["mean"] * scale, stats["n"])])
    return stats.pivot_table(index="activation", columns=["arch", "dataset"], values="cell", aggfunc="first")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="median over seeds beside the mean, per activation and column")
    parser.add_argument("--store", default="store", help="result store folder (default ./store)")
    args = parser.parse_args(argv)
    table = median_table(load_runs(args.store))
    print(table.to_string() if not table.empty else f"no finished training records in {args.store}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
