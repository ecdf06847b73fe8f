"""Which activations of one leaderboard column the seeds actually separate.

A column (one training condition and metric) holds each row's values per seed. The row
with the best mean (among rows with at least ``MIN_SEEDS`` seeds) is compared with every
other row by a paired t-test over the seeds both ran, and the p-values of the column are
Holm-corrected for the number of comparisons. A row is *significantly worse* when its
corrected p is below ``ALPHA`` and its mean is worse. Then:

- bold (``top``): the best row and every tested row not significantly worse than it: a
  tie at the top, ranked together;
- a column where no row is significantly worse (or whose best row has too few seeds)
  does not separate the activations: nothing is bold, nothing is ranked, and the verdict
  says why.

Why these guards: one seed gives no spread, so no winner; a t-test on fewer than
``MIN_SEEDS`` pairs, or on differences that are the same on every seed (zero variance:
scipy answers p = 1e-29 from 3 pairs), measures nothing, so such a pair gets no p-value
and the row is neither bold nor counted as worse.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

ALPHA = 0.05
MIN_SEEDS = 3  # pairs (and seeds of the best row) a test needs
# Differences whose spread is below this fraction of the values' magnitude count as constant.
CONSTANT_RTOL = 1e-9


@dataclass
class PairTest:
    """Paired comparison of one row with the column's best row."""

    n_pairs: int
    p_value: float  # NaN: not testable (see reason)
    reason: str = ""


def paired_test(a: np.ndarray, b: np.ndarray) -> PairTest:
    """Two-sided paired t-test of ``a`` against ``b`` (same seeds, same order), guarded."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = len(a)
    if n < MIN_SEEDS:
        return PairTest(n, math.nan, f"{n} paired seed{'s' if n != 1 else ''}; a test needs {MIN_SEEDS}")
    diff = a - b
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()), 1e-300)
    if float(np.std(diff, ddof=1)) <= CONSTANT_RTOL * scale:
        if abs(float(diff.mean())) <= CONSTANT_RTOL * scale:
            return PairTest(n, 1.0, "identical on every seed")
        return PairTest(n, math.nan, "the same difference on every seed: no spread to test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return PairTest(n, float(stats.ttest_rel(a, b).pvalue))


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order; NaN stays NaN and is not counted)."""
    finite = [(p, i) for i, p in enumerate(p_values) if math.isfinite(p)]
    m = len(finite)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(finite)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


@dataclass
class ColumnVerdict:
    """Outcome for one column: per-row flags, tie-aware ranks and a one-line verdict."""

    best: str | None
    separated: bool
    verdict: str
    top: set[str] = field(default_factory=set)
    worse: set[str] = field(default_factory=set)
    rank: dict[str, float] = field(default_factory=dict)
    tests: dict[str, PairTest] = field(default_factory=dict)
    p_holm: dict[str, float] = field(default_factory=dict)


def judge_column(values: dict[str, dict[int, float]], higher_is_better: bool) -> ColumnVerdict:
    """``values``: row -> {seed: value} (finite values only). See the module docstring."""
    means = {row: float(np.mean(list(v.values()))) for row, v in values.items() if v}
    sign = 1.0 if higher_is_better else -1.0
    candidates = [r for r in means if len(values[r]) >= MIN_SEEDS]
    if len(means) < 2:
        return ColumnVerdict(None, False, "one activation: nothing to compare")
    if not candidates:
        most = max(len(v) for v in values.values())
        return ColumnVerdict(None, False, f"at most {most} seed{'s' if most != 1 else ''} per activation: "
                                          f"not ranked (a ranking needs {MIN_SEEDS})")
    best = max(candidates, key=lambda r: (sign * means[r], r))
    others = sorted(r for r in means if r != best)
    tests = {}
    for row in others:
        seeds = sorted(set(values[row]) & set(values[best]))
        tests[row] = paired_test(np.array([values[row][s] for s in seeds]),
                                 np.array([values[best][s] for s in seeds]))
    adjusted = dict(zip(others, holm([tests[r].p_value for r in others])))
    worse = {r for r in others if adjusted[r] < ALPHA and sign * (means[r] - means[best]) < 0}
    out = ColumnVerdict(best, bool(worse), "", tests=tests, p_holm=adjusted, worse=worse)
    if not worse:
        out.verdict = ("no activation is significantly worse than the best (paired t-tests over seeds, "
                       "Holm-corrected): the spread does not separate them; not ranked")
        return out
    out.top = {best} | {r for r in others if math.isfinite(tests[r].p_value) and r not in worse}
    # Ties at the top share the average of their places; the rest follow in order of mean.
    order = sorted(means, key=lambda r: (-sign * means[r], r))
    k = len(out.top)
    rest = [r for r in order if r not in out.top]
    out.rank = {r: (k + 1) / 2 for r in out.top} | {r: float(k + 1 + i) for i, r in enumerate(rest)}
    out.verdict = (f"{k} activation{'s' if k != 1 else ''} tied at the top; {len(worse)} significantly worse "
                   f"(paired t-tests over seeds vs the best mean, Holm-corrected, alpha {ALPHA})")
    return out
