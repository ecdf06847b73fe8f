"""The papers' published numbers (baselines/) and the published-vs-reproduced page.

Checks that baselines/ is a verbatim copy of the numbers read from the papers, that every
row cites its table and source, that repeated runs become one mean with n, that Swish and
Swish-1 and top-1 error are matched right, that a store with runs gives the reproduced
mean, 95 % CI, difference and paired gain, and that an empty store already lists every
number with the command (and GPU-hours) that reproduces it.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import suite.cli
from suite.errors import SuiteError
from suite.report import baselines as bl
from suite.report import published as pub
from suite.store import Store

REPO = Path(__file__).resolve().parents[1]
SHARED = Path("/work/shared/published/numbers-from-papers.csv")
VALUES_COLUMNS = ["key", "activation", "arch", "task", "dataset", "recipe", "seed", "metric", "value"]


@pytest.fixture(scope="module")
def repo_baselines() -> pd.DataFrame:
    return bl.load_baselines(REPO / "baselines")


@pytest.fixture(scope="module")
def acon_cells():
    return pub.matrix_cells(["paper-acon", "paper-pwlu"])


def _values(rows) -> pd.DataFrame:
    return pd.DataFrame([dict(zip(VALUES_COLUMNS, r)) for r in rows], columns=VALUES_COLUMNS)


def _csv_rows(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------- baselines/

@pytest.mark.skipif(not SHARED.is_file(), reason="the shared numbers-from-papers.csv is not on this machine")
def test_baselines_are_a_verbatim_copy_of_the_numbers_read_from_the_papers():
    source = _csv_rows(SHARED)
    copied = [row for path in sorted((REPO / "baselines").glob("*.csv")) for row in _csv_rows(path)]
    key = lambda r: tuple(r[c] for c in bl.COLUMNS)  # noqa: E731
    assert sorted(map(key, copied)) == sorted(map(key, source))


def test_every_row_cites_a_table_and_a_source(repo_baselines):
    assert len(repo_baselines) >= 267
    for col in ("table", "source_url", "read_from"):
        assert repo_baselines[col].str.strip().ne("").all(), col
    assert repo_baselines["read_from"].str.lower().str.startswith(bl.READ_FROM).all()
    assert repo_baselines["read_from"].map(bl.is_secondary).sum() >= 11  # ACON's and PWLU's COCO rows


@pytest.mark.parametrize("field,bad,message", [("read_from", "my memory", "read_from"),
                                               ("source_url", "", "source_url")])
def test_rows_without_a_source_are_rejected(tmp_path, field, bad, message):
    row = dict(zip(bl.COLUMNS, ["P", "Table 1", "2104.03693", "ReLU", "ResNet-18", "classification", "ImageNet",
                                "top1", "70.0", "r", "n", "https://arxiv.org/abs/2104.03693", "paper"]))
    row[field] = bad
    with (tmp_path / "b.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=bl.COLUMNS)
        writer.writeheader()
        writer.writerow(row)
    with pytest.raises(SuiteError, match=message):
        bl.load_baselines(tmp_path)


def test_missing_tables_are_listed_and_validated(tmp_path):
    missing = pub.load_missing(REPO / "baselines")
    papers = {m["arxiv"] for m in missing}
    assert {"2104.03693", "2502.01247", "2402.08244", "1907.06732"} <= papers
    (tmp_path / pub.MISSING_FILE).write_text('[[missing]]\npaper = "P"\narxiv = "1234.56789"\nwhat = ""\nwhy = "x"\n')
    with pytest.raises(SuiteError, match="what"):
        pub.load_missing(tmp_path)


def test_repeated_runs_are_one_number_with_their_mean_and_n(repo_baselines):
    numbers = pub.published_numbers(repo_baselines)
    irv2 = numbers[(numbers["arch"] == "Inception-ResNet-v2") & (numbers["activation"] == "ReLU")
                   & (numbers["metric"] == "top1")]
    raw = repo_baselines[(repo_baselines["arch"] == "Inception-ResNet-v2") & (repo_baselines["activation"] == "ReLU")
                         & (repo_baselines["metric"] == "top1")]["value"]
    assert len(irv2) == 1 and len(raw) == 3
    assert irv2["published_n"].iloc[0] == 3 and irv2["published"].iloc[0] == pytest.approx(raw.mean())
    # 212 Swish rows: Tables 6 and 7 hold three runs per configuration (Table 6's GELU one)
    swish = numbers[numbers["arxiv"] == "1710.05941"]
    assert len(swish) == 212 - 2 * 2 * 8 - 2 * 2 * 9


def test_swish_and_swish_1_and_the_papers_swish_are_kept_apart():
    names = pub.Names.from_registries()
    assert names.suite_name("activation", "Swish", "1710.05941") == "swish_beta"
    assert names.suite_name("activation", "Swish-1", "1710.05941") == "silu"
    assert names.suite_name("activation", "Swish", "2104.03693") == "silu"
    assert names.suite_name("activation", "LReLU", "1710.05941") == "leaky_relu"
    assert names.suite_name("arch", "ShuffleNetV2 0.5x") == "shufflenet_v2_x0_5"
    assert names.suite_name("arch", "MobileNet") == "mobilenetv1_100"
    assert names.suite_name("arch", "Mask R-CNN R50-FPN") == "maskrcnn_resnet50_fpn"
    assert names.suite_name("arch", "Mobile NASNet-A") is None


# ---------------------------------------------------------------- the comparison

ACON = """paper,table,arxiv,activation,arch,task,dataset,metric,value,recipe,notes,source_url,read_from
ACON,README,2009.04759,ReLU,ResNet-50,classification,ImageNet,top1_err,24.0,r,n,https://x,official repository README
ACON,README,2009.04759,ACON-C,ResNet-50,classification,ImageNet,top1_gain_over_relu,0.8,r,n,https://x,official repository README
ACON,Table 9,2009.04759,ReLU,RetinaNet ResNet-50,detection,COCO,map,35.2,r,n,https://y,secondary (quotes the paper)
"""
RELU = [0.757, 0.762, 0.760]
ACONC = [0.765, 0.768, 0.770]


def _acon_values():
    rows = []
    for seed, (r, a) in enumerate(zip(RELU, ACONC)):
        rows.append(("k", "relu", "resnet50", "classification", "imagenet", "acon-resnet", seed, "top1", r))
        rows.append(("k", "acon_c", "resnet50", "classification", "imagenet", "acon-resnet", seed, "top1", a))
    rows.append(("k", "relu", "resnet50", "classification", "imagenet", "other", 0, "top1", 0.5))  # other recipe
    return _values(rows)


def test_top1_error_is_compared_with_a_ci_and_the_gain_with_a_paired_ci(tmp_path, acon_cells):
    (tmp_path / "acon.csv").write_text(ACON)
    comp = pub.compare(bl.load_baselines(tmp_path), _acon_values(), acon_cells)
    err = comp[comp["metric"] == "top1_err"].iloc[0]
    errors = 100 - 100 * np.array(RELU)
    half = stats.t.ppf(0.975, 2) * errors.std(ddof=1) / math.sqrt(3)
    assert err["status"] == "compared" and err["matched_recipe"] == "acon-resnet" and err["n"] == 3
    assert err["reproduced"] == pytest.approx(errors.mean()) and err["ci95"] == pytest.approx(half)
    assert err["difference"] == pytest.approx(errors.mean() - 24.0)
    assert err["inside_ci"] == (abs(errors.mean() - 24.0) <= half)
    gain = comp[comp["metric"] == "top1_gain_over_relu"].iloc[0]
    diffs = 100 * (np.array(ACONC) - np.array(RELU))
    assert gain["reproduced"] == pytest.approx(diffs.mean())
    assert gain["ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * diffs.std(ddof=1) / math.sqrt(3))
    detector = comp[comp["metric"] == "map"].iloc[0]
    assert detector["status"] == "not run" and bool(detector["secondary"])
    assert detector["command"] == "python -m suite run --matrix paper-pwlu --act relu --arch retinanet_resnet50_fpn"
    assert detector["gpu_hours"] == pytest.approx(1 * 8 * 2880 / 60)  # 1 seed x 8 GPUs x 48 h
    page = pub.to_markdown(comp, [])
    assert "Table 9 (secondary)" in page and "35.2 †" in page and f"{errors.mean() - 24.0:+.2f}" in page


def test_unmatchable_numbers_say_why(repo_baselines, acon_cells):
    rows = repo_baselines[repo_baselines["arxiv"].isin(["2402.08244", "2104.03693"])]
    comp = pub.compare(rows, _values([]), acon_cells)
    frelu = comp[comp["activation"] == "FReLU"].iloc[0]
    assert frelu["status"] == "not matched" and "'FReLU' is not registered" in frelu["reason"]
    apalu = comp[comp["activation"] == "APALU"].iloc[0]
    assert apalu["status"] == "not matched" and "does not name it" in apalu["reason"]
    gain = comp[(comp["arch"] == "ResNet-18")].iloc[0]  # PWLU over Swish: runs PWLU and SiLU
    assert gain["command"] == "python -m suite run --matrix paper-pwlu --act pwlu --act silu --arch resnet18"


# ---------------------------------------------------------------- end to end

def _record(act: str, seed: int, top1: float) -> dict:
    cell = {"activation": act, "act_params": {}, "arch": "resnet50", "task": "classification",
            "dataset": "imagenet", "recipe": "acon-resnet", "recipe_overrides": {}, "seed": seed, "resources": {}}
    return {"cell": cell, "cell_id": f"{act}-{seed}", "status": "done", "metrics": {"top1": top1},
            "params": {"total": 1000, "activation": 0}, "provenance": {"hardware": {"gpu": "H100", "gpu_count": 8}}}


def test_report_over_an_empty_store_lists_every_number_and_a_store_with_runs_compares(tmp_path, capsys,
                                                                                      repo_baselines):
    empty = tmp_path / "empty"
    (empty / "records").mkdir(parents=True)
    assert suite.cli.main(["publish", "--store", str(empty), "--out", str(tmp_path / "o1")]) == 0
    printed = capsys.readouterr().out
    assert "arXiv 1710.05941" in printed and "arXiv 2502.01247" in printed
    page = next((tmp_path / "o1").glob("published-by-paper-*.md")).read_text()
    numbers = pub.published_numbers(repo_baselines)
    for paper in numbers["paper"].unique():
        assert f"## {paper}" in page
    assert page.count("python -m suite run --matrix paper-acon --act relu --arch resnet50`") == 1
    assert "MISSING: ImageNet table: ConvNeXt-T" in page
    flat = pd.read_csv(next((tmp_path / "o1").glob("published-vs-reproduced-*.csv")))
    assert len(flat) == len(numbers)
    site = (tmp_path / "o1" / "index.html").read_text()
    assert 'id="published-vs-reproduced"' in site and 'id="paper-1710-05941"' in site

    store = Store(tmp_path / "store")
    for seed, (r, a) in enumerate(zip(RELU, ACONC)):
        store.write("train", f"relu-{seed}", _record("relu", seed, r))
        store.write("train", f"acon-{seed}", _record("acon_c", seed, a))
    assert suite.cli.main(["report", "--store", str(tmp_path / "store"), "--out", str(tmp_path / "o2")]) == 0
    comp = pd.read_csv(next((tmp_path / "o2").glob("published-vs-reproduced-*.csv")), dtype={"arxiv": str})
    relu = comp[(comp["arxiv"] == "2009.04759") & (comp["arch"] == "ResNet-50") & (comp["activation"] == "ReLU")]
    assert relu["reproduced"].iloc[0] == pytest.approx(100 - 100 * np.mean(RELU))
    assert relu["n"].iloc[0] == 3 and math.isfinite(relu["ci95"].iloc[0])
    text = "".join(p.read_text() for p in (tmp_path / "o2").glob("published-by-paper-*.md"))
    assert f"{100 - 100 * np.mean(RELU):.2f} ± " in text and "(n=3)" in text
    assert suite.cli.main(["publish", "--store", str(tmp_path / "store"), "--out", str(tmp_path / "o3")]) == 0
    site = (tmp_path / "o3" / "index.html").read_text()
    assert site.index('id="published-vs-reproduced"') < site.index('id="leaderboard-')  # the front page leads with it


def test_dry_run_prints_the_gpu_hours(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(suite.cli, "SUBCOMMANDS", {"run": "suite.launch.cli"})
    assert suite.cli.main(["run", "--matrix", "paper-acon", "--dry-run", "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    # 24 ShuffleNetV2 cells x 8 GPUs x 24 h + 36 ResNet cells x 8 GPUs x 48 h
    assert f"{24 * 8 * 24 + 36 * 8 * 48:,} GPU-hours" in out.replace("\n", "")
