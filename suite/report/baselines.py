"""Published numbers (``baselines/*.csv``) and their comparison with reproduced results.

Each CSV row is one number read from a paper: ``paper, table, arxiv, activation, arch,
task, dataset, metric, value, recipe, notes``. Names are the paper's own spelling
("ResNet-18", "Swish", "ImageNet"); ``ALIASES`` maps them onto the suite's names so a row
finds the reproduced cell with the same activation, architecture, data set and metric.

Accuracy-like metrics (top1, top5, map, map50) are recorded in percent, as the papers print
them. A metric ``<m>_gain_over_<act>`` is a published difference (e.g. the PWLU abstract's
"top-1 gain over Swish"); it is compared with the reproduced mean difference.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from suite.errors import SuiteError
from suite.report.aggregate import HIGHER_IS_BETTER

COLUMNS = ["paper", "table", "arxiv", "activation", "arch", "task", "dataset", "metric",
           "value", "recipe", "notes"]
TASKS = ("classification", "lm", "detection")
ARXIV_ID = re.compile(r"^\d{4}\.\d{4,5}(v\d+)?$")
GAIN = re.compile(r"^(?P<metric>[a-z0-9_]+?)_gain_over_(?P<ref>[a-z0-9]+)$")

# Paper spelling (normalised by `_norm`) -> the suite's canonical spelling (also normalised).
ALIASES = {
    "activation": {"silu": "swish", "swish1": "swish", "hermitepolynomial": "hermite",
                   "fourierseries": "fourier", "tropicalpolynomial": "tropical"},
    "arch": {"mobilenetv2100": "mobilenetv2", "mobilenetv3large100": "mobilenetv3",
             "mobilenetv3large": "mobilenetv3", "efficientnetb0": "efficientnetb0",
             "convnexttiny": "convnextt", "gpt2124m": "gpt2", "gpt2small": "gpt2"},
    "dataset": {"imagenet1k": "imagenet", "ilsvrc2012": "imagenet", "coco2017": "coco",
                "mscoco": "coco", "owt": "openwebtext"},
}


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def canonical(kind: str, name: str) -> str:
    """Matching key of an activation/arch/dataset name: lower case, no punctuation, aliased."""
    key = _norm(name)
    return ALIASES.get(kind, {}).get(key, key)


def default_dir() -> Path:
    """``baselines/`` of the checkout this package lives in, else ``./baselines``."""
    here = Path(__file__).resolve().parents[2] / "baselines"
    return here if here.is_dir() else Path("baselines")


def validate(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check one CSV's columns and values; raise SuiteError naming the file and row."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise SuiteError(f"baseline file {source!r} lacks column(s) {', '.join(missing)}; "
                         f"expected the columns {', '.join(COLUMNS)}.")
    frame = frame[COLUMNS].copy()
    values = []
    for i, row in frame.iterrows():
        where = f"{source} row {i + 2}"
        for col in ("paper", "table", "arxiv", "activation", "arch", "task", "dataset", "metric"):
            if not str(row[col]).strip() or str(row[col]) == "nan":
                raise SuiteError(f"{where}: column {col!r} is empty; every baseline needs it.")
        if not ARXIV_ID.match(str(row["arxiv"])):
            raise SuiteError(f"{where}: arxiv id {row['arxiv']!r} is not accepted; expected "
                             "the form 2104.03693 (optionally with a version, 2104.03693v2).")
        if row["task"] not in TASKS:
            raise SuiteError(f"{where}: task {row['task']!r} is not accepted; expected one of {', '.join(TASKS)}.")
        try:
            value = float(row["value"])
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            raise SuiteError(f"{where}: value {row['value']!r} is not accepted; expected a finite number.")
        values.append(value)
    frame["value"] = pd.Series(values, index=frame.index, dtype=float)
    frame["source"] = source
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SuiteError(f"baseline file {str(path)!r} cannot be read as CSV ({first}); "
                         "expected UTF-8 comma-separated text with a header row.") from None


def load_baselines(directory: str | Path | None = None) -> pd.DataFrame:
    """All ``*.csv`` of the baselines folder, validated; an absent folder gives no rows."""
    directory = default_dir() if directory is None else Path(directory)
    frames = []
    if directory.is_dir():
        for path in sorted(directory.glob("*.csv")):
            frames.append(validate(_read_csv(path), path.name))
    if not frames:
        return pd.DataFrame(columns=[*COLUMNS, "source"])
    return pd.concat(frames, ignore_index=True)


def percent_scale(summary: pd.DataFrame, metric: str) -> float:
    """100 when the store holds an accuracy-like metric as a fraction (all |means| <= 1),
    so that it compares with the papers' percent; else 1."""
    means = summary.loc[summary["metric"] == metric, "mean"].dropna().abs()
    return 100.0 if metric in HIGHER_IS_BETTER and not means.empty and means.max() <= 1.0 else 1.0


def compare(baselines: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Published next to reproduced: one row per baseline, with the reproduced mean, std, n
    and ``difference`` = reproduced - published (NaN where the suite has no such run)."""
    out_cols = ["paper", "table", "arxiv", "activation", "arch", "dataset", "metric",
                "published", "reproduced", "reproduced_std", "n", "difference",
                "matched_activation", "matched_arch", "matched_recipe", "recipe", "notes"]
    if baselines.empty:
        return pd.DataFrame(columns=out_cols)
    repro = summary.copy()
    for kind in ("activation", "arch", "dataset"):
        repro[f"_{kind}"] = repro[kind].map(lambda n, k=kind: canonical(k, n))
    rows = []
    for b in baselines.itertuples(index=False):
        gain = GAIN.match(b.metric)
        metric = gain.group("metric") if gain else b.metric
        sel = repro[(repro["_activation"] == canonical("activation", b.activation))
                    & (repro["_arch"] == canonical("arch", b.arch))
                    & (repro["_dataset"] == canonical("dataset", b.dataset))
                    & (repro["metric"] == metric) & (repro["n"] > 0)]
        row = {"paper": b.paper, "table": b.table, "arxiv": b.arxiv, "activation": b.activation,
               "arch": b.arch, "dataset": b.dataset, "metric": b.metric, "published": b.value,
               "reproduced": math.nan, "reproduced_std": math.nan, "n": 0, "difference": math.nan,
               "matched_activation": "", "matched_arch": "", "matched_recipe": "",
               "recipe": b.recipe, "notes": b.notes}
        if not sel.empty:
            hit = sel.sort_values("n", ascending=False).iloc[0]
            scale = percent_scale(summary, metric)
            mean, std = hit["mean"] * scale, hit["std"] * scale
            if gain:
                ref = repro[(repro["_activation"] == canonical("activation", gain.group("ref")))
                            & (repro["arch"] == hit["arch"]) & (repro["dataset"] == hit["dataset"])
                            & (repro["recipe"] == hit["recipe"]) & (repro["metric"] == metric)
                            & (repro["n"] > 0)]
                mean = mean - ref.iloc[0]["mean"] * scale if not ref.empty else math.nan
                std = math.nan
            row.update(reproduced=mean, reproduced_std=std, n=int(hit["n"]),
                       difference=mean - b.value, matched_activation=hit["activation"],
                       matched_arch=hit["arch"], matched_recipe=hit["recipe"])
        rows.append(row)
    return pd.DataFrame(rows, columns=out_cols)
