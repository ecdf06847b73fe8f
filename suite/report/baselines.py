"""Published numbers (``baselines/*.csv``) and their comparison with reproduced results.

Each CSV row is one number read from a paper: ``paper, table, arxiv, activation, arch,
task, dataset, metric, value, recipe, notes, source_url, read_from``. Names are the paper's
own spelling ("ResNet-18", "Swish", "ImageNet"); ``ALIASES`` (and ``PAPER_ALIASES`` where a
paper spells a name its own way) map them onto the suite's names so a row finds the
reproduced cell with the same activation, architecture, data set and metric.

Accuracy-like metrics (top1, top5, map, map50) are recorded in percent, as the papers print
them; ``top1_err`` is top-1 error in percent (ACON's tables). A metric
``<m>_gain_over_<act>`` is a published difference (e.g. the PWLU abstract's "top-1 gain
over Swish"). ``read_from`` says whether a number was read from the paper itself (or its
authors' README) or from a text that quotes it ("secondary ..."): ``is_secondary``.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from suite.errors import SuiteError

COLUMNS = ["paper", "table", "arxiv", "activation", "arch", "task", "dataset", "metric",
           "value", "recipe", "notes", "source_url", "read_from"]
# Where a number was read: the paper, the authors' own README/repository, or a text quoting it.
READ_FROM = ("paper", "official repository", "secondary")
TASKS = ("classification", "lm", "detection")
ARXIV_ID = re.compile(r"^\d{4}\.\d{4,5}(v\d+)?$")
GAIN = re.compile(r"^(?P<metric>[a-z0-9_]+?)_gain_over_(?P<ref>[a-z0-9]+)$")

# Paper spelling (normalised by `_norm`) -> the suite's canonical spelling (also normalised).
ALIASES = {
    "activation": {"silu": "swish", "swish1": "swish", "hermitepolynomial": "hermite",
                   "fourierseries": "fourier", "tropicalpolynomial": "tropical", "lrelu": "leakyrelu"},
    "arch": {"mobilenetv2100": "mobilenetv2", "mobilenetv3large100": "mobilenetv3",
             "mobilenetv3large": "mobilenetv3", "efficientnetb0": "efficientnetb0",
             "convnexttiny": "convnextt", "gpt2124m": "gpt2", "gpt2small": "gpt2",
             "mobilenetv1100": "mobilenet", "mobilenetv1": "mobilenet",
             "shufflenetv205x": "shufflenetv2x05", "shufflenetv215x": "shufflenetv2x15",
             "retinanet": "retinanetresnet50fpn", "retinanetresnet50": "retinanetresnet50fpn",
             "maskrcnnr50fpn": "maskrcnnresnet50fpn"},
    "dataset": {"imagenet1k": "imagenet", "ilsvrc2012": "imagenet", "coco2017": "coco",
                "mscoco": "coco", "owt": "openwebtext"},
}


# Per paper (arXiv id): spellings that mean something else there. In arXiv 1710.05941
# "Swish" is x * sigmoid(beta x) with trainable beta (the suite's swish_beta) and "Swish-1"
# is beta = 1 (silu); elsewhere "Swish" is taken as silu.
PAPER_ALIASES = {"1710.05941": {"activation": {"swish": "swishbeta"}}}


def is_secondary(read_from: str) -> bool:
    """True where the number was quoted by another text, not read from the paper itself."""
    return str(read_from).strip().lower().startswith("secondary")


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def canonical(kind: str, name: str, arxiv: str | None = None) -> str:
    """Matching key of an activation/arch/dataset name: lower case, no punctuation, aliased
    (by the paper's own ``PAPER_ALIASES`` first when ``arxiv`` is given)."""
    key = _norm(name)
    paper = PAPER_ALIASES.get(str(arxiv or "").split("v")[0], {}).get(kind, {})
    if key in paper:
        return paper[key]
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
        for col in ("paper", "table", "arxiv", "activation", "arch", "task", "dataset", "metric",
                    "source_url", "read_from"):
            if not str(row[col]).strip() or str(row[col]) == "nan":
                raise SuiteError(f"{where}: column {col!r} is empty; every baseline needs it "
                                 "(where the number is printed and where it was read).")
        if not str(row["read_from"]).strip().lower().startswith(READ_FROM):
            raise SuiteError(f"{where}: read_from {row['read_from']!r} is not accepted; expected a text "
                             f"starting with one of: {', '.join(READ_FROM)}.")
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
