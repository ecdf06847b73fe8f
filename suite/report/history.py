"""Speed over commits: the asv history (results/asv) as one figure of the site.

`asv publish` writes a page that loads its scripts from the network (blank offline); the
leaderboard site shows the key ratios itself instead: each activation's forward+backward
time over ReLU's (``Ratios.track_ratio_to_relu``, timed in one harness run) per commit,
one line per machine and activation, commits in date order.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from suite.report.plots import Figure, _save

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "results" / "asv"
BENCHMARK = "activations.Ratios.track_ratio_to_relu"


def _param_label(values: list) -> str:
    return str(values[0]).strip("'\"")


def load(asv_dir: Path = DEFAULT_DIR, benchmark: str = BENCHMARK) -> pd.DataFrame:
    """Rows (machine, commit, date, activation, value) from asv's result files (format 2:
    ``result_columns`` names the fields of each benchmark's list)."""
    rows = []
    for path in sorted(Path(asv_dir).glob("*/*.json")):
        if path.name == "machine.json":
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a partial file (asv still writing): the next report reads it
        entry = data.get("results", {}).get(benchmark)
        if not entry or "result_columns" not in data:
            continue
        fields = dict(zip(data["result_columns"], entry))
        values, params = fields.get("result") or [], fields.get("params") or [[]]
        labels = [_param_label([p]) for p in params[0]] if params and params[0] else ["-"]
        for label, value in zip(labels, values):
            if value is not None:
                rows.append({"machine": path.parent.name, "commit": data["commit_hash"][:8],
                             "date": pd.to_datetime(data.get("date", 0), unit="ms"),
                             "activation": label, "value": float(value)})
    return pd.DataFrame(rows, columns=["machine", "commit", "date", "activation", "value"])


def figures(out: Path, asv_dir: Path = DEFAULT_DIR) -> list[Figure]:
    """The history figure, or none when no asv results are there."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    frame = load(asv_dir)
    if frame.empty:
        return []
    frame = frame.sort_values("date")
    order = list(dict.fromkeys(frame["commit"]))
    frame["line"] = frame["activation"] + (" @ " + frame["machine"] if frame["machine"].nunique() > 1 else "")
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(order) + 3), 3.6))
    sns.lineplot(data=frame, x=pd.Categorical(frame["commit"], categories=order, ordered=True), y="value",
                 hue="line", marker="o", ax=ax, sort=False)
    ax.set(xlabel="commit (oldest to newest)", ylabel="fwd+bwd time / ReLU's")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_yscale("log")  # ratios: 2x slower and 2x faster are the same distance from 1
    ax.legend(title=None, fontsize="small")
    fig.tight_layout()
    machines = ", ".join(sorted(frame["machine"].unique()))
    return [Figure(_save(fig, Path(out) / "speed-history.png"),
                   f"Speed over commits (asv, {len(order)} commits, machine {machines}): forward+backward time "
                   "over ReLU's in the same run, per activation; `asv run` adds commits (docs/readme/bench.md).")]
