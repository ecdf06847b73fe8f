"""Which rows the leaderboard bolds and ranks: a hand-made store with known spreads.

Classification column (5 seeds): relu best; swish 0.002 below it with seed noise ten times
larger (a tie); pwlu 0.05 below with small noise (significantly worse); hermite at two
degrees (two rows, never merged). The same recipe with an override is its own column.
A language-model column whose rows differ by far less than their noise (not separated),
a detection column with one seed (no winner), a done record with a NaN metric, and a
record of an activation this checkout does not register.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from suite.report import aggregate, significance, tables
from suite.store import Store

NOISE = [0.011, -0.017, 0.004, 0.019, -0.013]  # per seed, zero-ish mean
PROV = {"git_commit": "abc", "hardware": {"cpu": "x", "cpu_count": 2, "gpu": None}}


def rec(act, arch, task, dataset, metrics, seed, *, params=None, overrides=None, recipe="embedded",
        status="done"):
    cell = {"activation": act, "act_params": params or {}, "arch": arch, "task": task, "dataset": dataset,
            "recipe": recipe, "recipe_overrides": overrides or {}, "seed": seed, "resources": {}}
    return {"cell": cell, "status": status, "metrics": metrics, "history": [], "wall_time_s": 1.0,
            "throughput": {"samples_per_s": 10.0}, "params": {"total": 100, "activation": 0},
            "provenance": PROV}


CLS = {  # row -> (act, params, offset, noise scale)
    "relu": ("relu", {}, 0.0, 0.1),
    "swish": ("swish", {}, -0.002, 1.0),
    "pwlu": ("pwlu", {}, -0.05, 0.1),
    "hermite(degree=3)": ("hermite", {"degree": 3}, -0.01, 0.1),
    "hermite(degree=8)": ("hermite", {"degree": 8}, -0.2, 0.1),
}


def cls_value(row, seed, shift=0.0):
    _, _, offset, scale = CLS[row]
    return 0.9 + offset + shift + scale * NOISE[(seed + list(CLS).index(row)) % 5]


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("sig") / "store")
    for row, (act, params, _, _) in CLS.items():
        for seed in range(5):
            store.write("train", f"c-{row}-{seed}", rec(act, "cnn", "classification", "digits",
                                                          {"top1": cls_value(row, seed)}, seed, params=params))
            store.write("train", f"o-{row}-{seed}", rec(act, "cnn", "classification", "digits",
                                                          {"top1": cls_value(row, seed, 0.01)}, seed, params=params,
                                                          overrides={"steps": 40}))
    for act, offset in (("relu", 0.0), ("swish", 0.001), ("gelu", -0.001)):
        for seed in range(5):
            store.write("train", f"l-{act}-{seed}", rec(act, "gpt", "lm", "text",
                                                         {"val_loss": 3.0 + offset + NOISE[seed] * (1 + (act == "gelu"))},
                                                         seed))
    for act, value in (("relu", 0.4), ("swish", 0.2)):
        store.write("train", f"d-{act}", rec(act, "det", "detection", "canvas", {"map": value}, 0))
    store.write("train", "d-gelu", rec("gelu", "det", "detection", "canvas", {"map": float("nan")}, 0))
    for seed in range(5):
        store.write("train", f"m-{seed}", rec("mystery", "cnn", "classification", "digits",
                                              {"top1": 0.99}, seed))
    runs = aggregate.load_runs(store, registered=lambda name: name != "mystery")
    return runs, aggregate.summarize(runs)


def column(summary, arch, metric, recipe="embedded"):
    s = summary[(summary["arch"] == arch) & (summary["metric"] == metric) & (summary["recipe"] == recipe)]
    return s.set_index("activation")


def test_rows_are_configurations_and_columns_recipes_with_overrides(summary):
    runs, s = summary
    col = column(s, "cnn", "top1")
    assert {"hermite(degree=3)", "hermite(degree=8)"} <= set(col.index)
    assert col.loc["hermite(degree=3)", "mean"] == pytest.approx(np.mean([cls_value("hermite(degree=3)", k)
                                                                          for k in range(5)]))
    assert col.loc["hermite(degree=8)", "n"] == 5  # not 10 merged seeds
    assert set(s[s["arch"] == "cnn"]["recipe"]) == {"embedded", "embedded(steps=40)"}
    assert column(s, "cnn", "top1", "embedded(steps=40)").loc["relu", "n"] == 5


def test_bold_is_the_best_and_what_is_not_significantly_worse(summary):
    _, s = summary
    col = column(s, "cnn", "top1")
    bold = set(col.index[col["is_best"]])
    assert bold == {"relu", "swish"}  # swish: 0.002 below inside its noise; a tie
    assert col.loc["relu", "rank"] == col.loc["swish", "rank"] == 1.5
    assert col.loc["hermite(degree=3)", "rank"] == 3 and col.loc["hermite(degree=8)", "rank"] == 5
    # p-values: scipy's paired test against relu, Holm over the four comparisons
    raw = {r: stats.ttest_rel([cls_value(r, k) for k in range(5)], [cls_value("relu", k) for k in range(5)]).pvalue
           for r in CLS if r != "relu"}
    order = sorted(raw, key=raw.get)
    holm, running = {}, 0.0
    for i, r in enumerate(order):
        running = max(running, min(1.0, (len(order) - i) * raw[r]))
        holm[r] = running
    for r in raw:
        assert col.loc[r, "p_vs_best"] == pytest.approx(raw[r])
        assert col.loc[r, "p_vs_best_holm"] == pytest.approx(holm[r])
        assert bool(col.loc[r, "is_best"]) == (holm[r] >= significance.ALPHA)
    assert "2 activations tied at the top; 3 significantly worse" in col["verdict"].iloc[0]


def test_a_column_inside_the_noise_says_so_and_ranks_nobody(summary):
    _, s = summary
    col = column(s, "gpt", "val_loss")
    assert not col["is_best"].any() and col["rank"].isna().all()
    assert "does not separate" in col["verdict"].iloc[0]
    ranks = aggregate.average_ranks(s).set_index("activation")
    assert ranks.loc["relu", "n_columns"] == 2  # the two cnn columns, not gpt nor det


def test_one_seed_is_never_a_winner(summary):
    _, s = summary
    col = column(s, "det", "map")
    assert not col["is_best"].any() and col["rank"].isna().all()
    assert "not ranked" in col["verdict"].iloc[0]


def test_nan_metric_done_record_is_counted_with_its_reason(summary):
    _, s = summary
    gelu = column(s, "det", "map").loc["gelu"]
    assert gelu["n"] == 0 and gelu["n_nonfinite"] == 1
    assert "1 done without a value" in tables.cell_text(gelu)


def test_unregistered_activation_is_flagged_shown_and_not_ranked(summary):
    runs, s = summary
    col = column(s, "cnn", "top1")
    assert col.loc["mystery", "mean"] == pytest.approx(0.99)  # highest mean, yet:
    assert not col.loc["mystery", "is_best"] and math.isnan(col.loc["mystery", "rank"])
    assert "unregistered" in tables.cell_text(col.loc["mystery"])
    assert any("'mystery' is not registered" in p.reason for p in runs.problems)


def test_leaderboard_rows_sorted_by_rank_with_mean_ci_and_n(summary):
    _, s = summary
    table = tables.task_leaderboard("classification", s)
    assert list(table.display.index[:5]) == ["relu", "swish", "hermite(degree=3)", "pwlu", "hermite(degree=8)"]
    col = column(s, "cnn", "top1")
    label = next(c for c in table.display.columns if c.startswith("cnn/digits [embedded] top1"))
    text = table.display.loc["pwlu", label]
    assert text == f"{col.loc['pwlu', 'mean']:.3f} ± {col.loc['pwlu', 'ci95']:.3f} (n=5)"
    assert table.best.loc["swish", label] and not table.best.loc["pwlu", label]


@pytest.mark.parametrize("a,b,expected", [
    ([0.5, 0.6, 0.7], [0.4, 0.5, 0.6], "same difference"),      # was p = 1e-29 from 3 pairs
    ([0.5, 0.6], [0.4, 0.3], "a test needs 3"),
    ([0.5, 0.6, 0.7], [0.5, 0.6, 0.7], "identical"),
])
def test_degenerate_pairs_get_no_p_value(a, b, expected):
    test = significance.paired_test(np.array(a), np.array(b))
    assert expected in test.reason
    assert (test.p_value == 1.0) if expected == "identical" else math.isnan(test.p_value)


def test_nan_metric_done_record_is_listed_with_its_reason(summary):
    runs, _ = summary
    flagged = aggregate.without_primary_value(runs)
    gelu = runs.frame[(runs.frame["act_name"] == "gelu") & (runs.frame["task"] == "detection")]["key"]
    assert list(flagged["key"]) == list(gelu)
    assert "its map is nan (not a finite number)" in flagged["reason"].iloc[0]
