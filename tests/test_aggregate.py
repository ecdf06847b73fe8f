"""Aggregation on a hand-made store, checked against numpy/scipy computed here directly.

The store: relu, swish, pwlu x (resnet18 on digits, gpt2 on local-text) x seeds 0-2, with
one failed cell, one cell whose later retry failed (its done result must stay), one missing
seed, one diverged cell, a corrupt JSON file, a foreign JSON file and a record without a cell.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from suite.report import aggregate
from suite.store import Store

ACTS = ("relu", "swish", "pwlu")
COLUMNS = {  # arch -> (task, dataset, metric name -> base value)
    "resnet18": ("classification", "digits", {"top1": 0.90, "loss": 0.35}),
    "gpt2": ("lm", "local-text", {"val_loss": 3.0, "perplexity": 20.0}),
}
ACT_SHIFT = {"relu": 0.0, "swish": 0.01, "pwlu": 0.02}
FAILED = ("pwlu", "resnet18", 2)          # only a failed attempt
RETRIED = ("relu", "resnet18", 0)         # done, then a later failed attempt
MISSING = ("swish", "gpt2", 2)            # never ran
DIVERGED = ("relu", "gpt2", 1)
PROVENANCE = {"git_commit": "abc123def4567890", "git_dirty": False,
              "versions": {"python": "3.11", "torch": "2.x"},
              "hardware": {"cpu": "Test CPU", "cpu_count": 2, "torch_threads": 2, "gpu": None, "gpu_count": 0},
              "platform": "Linux-test"}


def metric_value(act: str, arch: str, metric: str, seed: int) -> float:
    """Deterministic but not regular: seeds differ by act-specific amounts."""
    base = COLUMNS[arch][2][metric]
    noise = [0.013, -0.007, 0.004][seed] * (1 + ACTS.index(act))
    sign = 1 if metric in ("top1",) else -1
    return round(base + sign * ACT_SHIFT[act] * (base if metric == "perplexity" else 1) + noise, 6)


def cell(act: str, arch: str, seed: int) -> dict:
    task, dataset, _ = COLUMNS[arch]
    return {"activation": act, "act_params": {}, "arch": arch, "task": task, "dataset": dataset,
            "recipe": "smoke", "recipe_overrides": {}, "seed": seed, "resources": {}}


def record(act: str, arch: str, seed: int, status: str = "done") -> dict:
    metrics = {m: metric_value(act, arch, m, seed) for m in COLUMNS[arch][2]}
    if status == "diverged":
        metrics = {m: float("nan") for m in metrics}
    first = next(iter(metrics))
    return {
        "cell": cell(act, arch, seed), "cell_id": f"{act}-{arch}-{seed}", "status": status,
        "metrics": metrics if status != "failed" else {},
        "history": [{"step": s, first: metrics[first] * (0.5 + s / 20), "loss": 2.0 / (1 + s)}
                    for s in (0, 5, 10)],
        "wall_time_s": 10.0 + seed, "throughput": {"samples_per_s": 100.0 * (1 + ACTS.index(act)) + seed},
        "params": {"total": 1000, "activation": 17 * ACTS.index(act)},
        "activation_shapes": {f"layer{i}": {"x": [-2.0, 0.0, 2.0], "y": [0.0, 0.0, 2.0 + i * 0.1]}
                              for i in range(2)},
        "checkpoint": "final.pt", "preemptions": 0,
        "error": {"type": "RuntimeError", "message": "boom", "traceback": "Traceback ...\nRuntimeError: boom"}
        if status == "failed" else None,
        "provenance": PROVENANCE,
    }


def make_store(root) -> tuple[Store, dict]:
    """Write the hand-made store; returns it and the paths of the bad files."""
    store = Store(root)
    for arch in COLUMNS:
        for act in ACTS:
            for seed in range(3):
                key = f"{act}-{arch}-{seed}"
                if (act, arch, seed) == MISSING:
                    continue
                if (act, arch, seed) == FAILED:
                    store.write("train", key, record(act, arch, seed, "failed"))
                elif (act, arch, seed) == DIVERGED:
                    store.write("train", key, record(act, arch, seed, "diverged"))
                else:
                    store.write("train", key, record(act, arch, seed))
                if (act, arch, seed) == RETRIED:
                    store.write("train", key, record(act, arch, seed, "failed"))
    bad = {
        "corrupt": root / "records" / "train" / "zz-corrupt" / "20260101T000000.000000Z-done.json",
        "foreign": root / "records" / "train" / "zz-foreign" / "20260101T000000.000000Z-done.json",
        "nocell": root / "records" / "train" / "zz-nocell" / "20260101T000000.000000Z-done.json",
    }
    for path in bad.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    bad["corrupt"].write_text('{"schema": "suite.record/1", "key": ')
    bad["foreign"].write_text(json.dumps({"hello": "not a record"}))
    bad["nocell"].write_text(json.dumps({"schema": "suite.record/1", "kind": "train", "key": "zz-nocell",
                                         "written_at": "20260101T000000.000000Z", "status": "done"}))
    return store, bad


def expected_values(act: str, arch: str, metric: str) -> list[float]:
    """The values a done seed contributes, derived from the construction above."""
    out = []
    for seed in range(3):
        if (act, arch, seed) in (FAILED, MISSING, DIVERGED):
            continue
        out.append(metric_value(act, arch, metric, seed))
    return out


@pytest.fixture
def runs(tmp_path):
    store, bad = make_store(tmp_path / "store")
    return aggregate.load_runs(store), bad


def test_problems_report_corrupt_foreign_and_cellless_files(runs):
    runs, bad = runs
    reasons = {str(p.path): p.reason for p in runs.problems}
    assert set(reasons) == {str(p) for p in bad.values()}
    assert "unreadable JSON" in reasons[str(bad["corrupt"])]
    assert "foreign" in reasons[str(bad["foreign"])]
    assert "cell" in reasons[str(bad["nocell"])]


def test_attempt_choice_keeps_done_over_later_failure(runs):
    runs, _ = runs
    frame = runs.frame.set_index("key")
    assert frame.loc["relu-resnet18-0", "status"] == "done"
    assert frame.loc["relu-resnet18-0", "attempts"] == 2
    assert frame.loc["pwlu-resnet18-2", "status"] == "failed"
    assert frame.loc["relu-gpt2-1", "status"] == "diverged"
    assert "swish-gpt2-2" not in frame.index
    assert len(frame) == 2 * 3 * 3 - 1


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("arch,metric", [("resnet18", "top1"), ("resnet18", "loss"),
                                         ("gpt2", "val_loss"), ("gpt2", "perplexity")])
def test_summary_statistics_match_numpy_scipy(runs, act, arch, metric):
    runs, _ = runs
    summary = aggregate.summarize(runs)
    row = summary[(summary["activation"] == act) & (summary["arch"] == arch) & (summary["metric"] == metric)]
    assert len(row) == 1
    row = row.iloc[0]
    vals = np.array(expected_values(act, arch, metric))
    assert row["n"] == len(vals)
    assert row["mean"] == pytest.approx(vals.mean())
    assert row["std"] == pytest.approx(vals.std(ddof=1))
    half = stats.t.interval(0.95, len(vals) - 1, loc=vals.mean(), scale=stats.sem(vals))
    assert row["ci95"] == pytest.approx((half[1] - half[0]) / 2)
    assert row["seeds_expected"] == 3


def test_failed_missing_and_diverged_are_counted(runs):
    runs, _ = runs
    s = aggregate.summarize(runs).set_index(["activation", "arch", "metric"])
    assert s.loc[("pwlu", "resnet18", "top1"), ["n", "n_failed", "n_diverged", "n_missing"]].tolist() == [2, 1, 0, 0]
    assert s.loc[("swish", "gpt2", "val_loss"), ["n", "n_failed", "n_diverged", "n_missing"]].tolist() == [2, 0, 0, 1]
    assert s.loc[("relu", "gpt2", "val_loss"), ["n", "n_failed", "n_diverged", "n_missing"]].tolist() == [2, 0, 1, 0]
    assert s.loc[("relu", "resnet18", "top1"), ["n", "n_failed"]].tolist() == [3, 0]


def test_bold_needs_three_seeds_and_follows_metric_direction(runs):
    """Bold cells include the best mean (in the metric's direction) among rows with 3 seeds;
    a row with fewer seeds is never bold (tests/test_significance.py checks the rest)."""
    runs, _ = runs
    s = aggregate.summarize(runs)
    for (arch, metric), group in s.groupby(["arch", "metric"]):
        group = group.set_index("activation")
        if not group["is_best"].any():
            assert group["rank"].isna().all()
            continue
        means = {a: np.mean(expected_values(a, arch, metric)) for a in ACTS if len(expected_values(a, arch, metric)) >= 3}
        pick = max if metric == "top1" else min
        assert group.loc[pick(means, key=means.get), "is_best"]
        assert not group.loc[[a for a in ACTS if a not in means], "is_best"].any()


def test_deltas_and_paired_pvalues(runs):
    runs, _ = runs
    d = aggregate.deltas(runs)
    for act, ref in [("pwlu", "relu"), ("swish", "relu"), ("pwlu", "swish"), ("relu", "swish")]:
        for arch, metric in [("resnet18", "top1"), ("gpt2", "val_loss")]:
            row = d[(d["activation"] == act) & (d["reference"] == ref) & (d["arch"] == arch) & (d["metric"] == metric)]
            assert len(row) == 1, (act, ref, arch, metric)
            row = row.iloc[0]
            expected = np.mean(expected_values(act, arch, metric)) - np.mean(expected_values(ref, arch, metric))
            assert row["delta"] == pytest.approx(expected)
            seeds = [s for s in range(3) if all((x, arch, s) not in (FAILED, MISSING, DIVERGED) for x in (act, ref))]
            assert row["n_pairs"] == len(seeds)
            if len(seeds) >= 3:
                a = [metric_value(act, arch, metric, s) for s in seeds]
                b = [metric_value(ref, arch, metric, s) for s in seeds]
                assert row["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
            else:
                assert math.isnan(row["p_value"])
    # relu and swish on gpt2 share only seed 0 (relu seed 1 diverged, swish seed 2 missing)
    one = d[(d["activation"] == "swish") & (d["reference"] == "relu") & (d["arch"] == "gpt2")].iloc[0]
    assert one["n_pairs"] == 1 and math.isnan(one["p_value"])


def _independent_means():
    return {(act, arch): np.mean(expected_values(act, arch, metric))
            for act in ACTS for arch, metric in [("resnet18", "top1"), ("gpt2", "val_loss")]}


def test_average_ranks_average_the_ranked_columns_only(runs):
    runs, _ = runs
    summary = aggregate.summarize(runs)
    ranks = aggregate.average_ranks(summary).set_index("activation")
    primary = summary[summary["metric"].isin(["top1", "val_loss"]) & summary["rank"].notna()]
    for act in ACTS:
        mine = primary[primary["activation"] == act]["rank"]
        if mine.empty:
            assert act not in ranks.index
        else:
            assert ranks.loc[act, "average_rank"] == pytest.approx(mine.mean())
            assert ranks.loc[act, "n_columns"] == len(mine)


def test_performance_profile(runs):
    runs, _ = runs
    taus = [1.0, 1.01, 1.02, 1.05, 1.5]
    profile = aggregate.performance_profile(aggregate.summarize(runs), taus=taus)
    means = _independent_means()
    for act in ACTS:
        ratios = []
        for arch, higher in [("resnet18", True), ("gpt2", False)]:
            col = [means[(a, arch)] for a in ACTS]
            ratios.append(max(col) / means[(act, arch)] if higher else means[(act, arch)] / min(col))
        for tau in taus:
            got = profile[(profile["activation"] == act) & (profile["tau"] == tau)]["fraction"].item()
            assert got == pytest.approx(np.mean([r <= tau for r in ratios]))
    # at tau = 1 each column counts exactly its best activation
    assert profile[profile["tau"] == 1.0]["fraction"].sum() == pytest.approx(1.0)


def test_pareto_front():
    x = [1, 2, 3, 3, 0.5]
    y = [5, 4, 1, 2, 0]
    assert aggregate.pareto_front(x, y).tolist() == [True, True, False, True, False]
    assert aggregate.pareto_front(x, y, y_higher=False).tolist() == [False, False, True, False, True]


def test_provenance_and_condition_tag(runs):
    runs, _ = runs
    prov = aggregate.provenance_summary(runs)
    assert prov["git_commits"] == ["abc123def4567890"]
    assert aggregate.condition_tag(prov) == "smoke-cpu"
    assert aggregate.is_smoke_cpu(prov)
    assert prov["status_counts"] == {"done": 15, "failed": 1, "diverged": 1}


def test_column_where_nothing_finished_is_still_shown(tmp_path):
    store = Store(tmp_path / "store")
    store.write("train", "a", record("relu", "resnet18", 0, "failed"))
    store.write("train", "b", record("pwlu", "resnet18", 0, "diverged"))
    s = aggregate.summarize(aggregate.load_runs(store)).set_index("activation")
    assert list(s["metric"]) == ["top1", "top1"]  # the task's primary metric stands in
    assert s.loc["relu", ["n", "n_failed", "n_diverged"]].tolist() == [0, 1, 0]
    assert s.loc["pwlu", ["n", "n_failed", "n_diverged"]].tolist() == [0, 0, 1]
    assert not s["is_best"].any()


def test_bench_ratios_read_or_computed_from_times(tmp_path):
    store = Store(tmp_path / "store")
    common = {"device": "cpu", "dtype": "float32", "shape": [4096]}
    store.write("bench", "r", {"activation": "relu", "impl": "reference", **common, "fwdbwd": {"median": 2e-3}})
    store.write("bench", "p", {"activation": "pwlu", "impl": "reference", **common, "fwdbwd": {"median": 7e-3}})
    store.write("bench", "q", {"activation": "pwlu", "impl": "fused", **common, "ratio_to_relu": {"fwdbwd": 1.5}})
    store.write("bench", "x", {"activation": "hermite", **common})  # no time, no ratio
    bench, problems = aggregate.load_bench(store)
    assert [p.path.parent.name for p in problems] == ["x"]
    speed = aggregate.kernel_speed(bench)
    assert speed.loc["pwlu", "cpu"] == pytest.approx(1.5)  # the fastest implementation
    assert speed.loc["relu", "cpu"] == pytest.approx(1.0)
    assert bench.set_index("impl").loc["reference"].query("activation == 'pwlu'")["ratio_to_relu"].item() == pytest.approx(3.5)


def test_speed_columns_match_trained_parameters_and_keep_benchmarks_apart(tmp_path):
    """hermite trained at degree 3 gets degree 3's kernel ratio (not degree 8's, not the
    faster-looking end-to-end step ratio, not a peer's); the step ratio has its own column."""
    store = Store(tmp_path / "store")
    common = {"device": "cpu", "dtype": "float32", "shape": [4096]}
    kernel = lambda act, params, impl, ratio: {"activation": act, "act_params": params, "impl": impl, **common,
                                               "fwdbwd": {"ratio_to_relu": ratio}}
    store.write("bench", "h3", kernel("hermite", {"degree": 3}, "fused", 1.4))
    store.write("bench", "h8", kernel("hermite", {"degree": 8}, "fused", 2.8))
    store.write("bench", "h3p", kernel("hermite", {"degree": 3}, "peer:torchortho", 0.5))  # a peer never counts
    store.write("bench", "e2e", {"benchmark": "train_step", "model": "resnet_tiny", "activation": "hermite",
                                 "act_params": {"degree": 3}, "device": "cpu", "ratio_to_relu": 1.1})
    store.write("bench", "e2e8", {"benchmark": "train_step", "model": "resnet_tiny", "activation": "hermite",
                                  "act_params": {"degree": 8}, "device": "cpu", "ratio_to_relu": 1.9})
    bench, problems = aggregate.load_bench(store)
    assert not problems
    rows = {"hermite(degree=3)": ("hermite", aggregate.params_key({"degree": 3})),
            "hermite(degree=8)": ("hermite", aggregate.params_key({"degree": 8}))}
    assert aggregate.kernel_speed(bench, rows).loc["hermite(degree=3)", "cpu"] == pytest.approx(1.4)
    assert aggregate.kernel_speed(bench, rows).loc["hermite(degree=8)", "cpu"] == pytest.approx(2.8)
    assert aggregate.train_step_speed(bench, rows).loc["hermite(degree=3)", "cpu"] == pytest.approx(1.1)
    assert aggregate.kernel_speed(bench, {"h5": ("hermite", aggregate.params_key({"degree": 5}))}).empty
    assert aggregate.kernel_speed(bench).loc["hermite", "cpu"] == pytest.approx(1.4)  # fastest own impl, no peer


def test_the_embedded_board_is_labelled_cpu_scale_not_smoke():
    from suite.report.build import smoke_label

    hardware = [{"cpu_count": 2, "gpu": None}]
    assert smoke_label({"recipes": ["smoke"], "hardware": hardware}).startswith("smoke-scale results on a 2-core CPU")
    label = smoke_label({"recipes": ["embedded"], "hardware": hardware})
    assert label.startswith("CPU-scale results") and "smoke" not in label and "not paper-scale" in label
    assert smoke_label({"recipes": ["embedded"], "hardware": [{"cpu_count": 8, "gpu": "A100"}]}) is None
