"""`python -m suite report/publish` end to end on the hand-made store of test_aggregate.

Checks the written tables (md/html/tex/csv), the best-marked cells, the seed bookkeeping,
every plot, the published-vs-reproduced comparison, and the repository's baseline CSVs.
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

import suite.cli
from suite.errors import SuiteError
from suite.report import baselines
from test_aggregate import ACTS, expected_values, make_store, metric_value

REPO = Path(__file__).resolve().parents[1]
TAG = "smoke-cpu"
TABLES = ("leaderboard-classification", "leaderboard-lm", "deltas", "ranks", "published-vs-reproduced")
BOARD = {"resnet18": "leaderboard-classification", "gpt2": "leaderboard-lm"}
BENCH_RATIO = {"relu": 1.0, "swish": 1.8, "pwlu": 3.25}
TEST_BASELINES = """paper,table,arxiv,activation,arch,task,dataset,metric,value,recipe,notes,source_url,read_from
Test paper,Table 9,2104.03693,Swish,ResNet-18,classification,Digits,top1,90.0,test,absolute,https://t,paper
Test paper,Table 9,2104.03693,PWLU,ResNet-18,classification,Digits,top1_gain_over_swish,1.0,test,gain,https://t,paper
Test paper,Table 9,2104.03693,PWLU,ResNet-50,classification,ImageNet,top1,77.0,test,never run,https://t,paper
"""


@pytest.fixture(autouse=True)
def _only_report_subcommands(monkeypatch):
    """Build the real top-level parser with only this area's subcommands, so these tests
    don't depend on other areas' CLI modules (they are tested by their own tests)."""
    monkeypatch.setattr(suite.cli, "SUBCOMMANDS", {"report": "suite.report.cli", "publish": "suite.report.cli"})


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    store, bad = make_store(root / "store")
    for act, ratio in BENCH_RATIO.items():
        store.write("bench", f"{act}-cpu", {
            "activation": act, "impl": "reference", "device": "cpu", "dtype": "float32",
            "shape": [4096], "ratio_to_relu": {"fwdbwd": ratio}, "ratio_to_copy": {"fwdbwd": 2 * ratio}})
    base_dir = root / "baselines"
    base_dir.mkdir()
    (base_dir / "test.csv").write_text(TEST_BASELINES)
    out = root / "out"
    mp = pytest.MonkeyPatch()
    mp.setattr(suite.cli, "SUBCOMMANDS", {"report": "suite.report.cli", "publish": "suite.report.cli"})
    try:
        code = suite.cli.main(["publish", "--store", str(root / "store"), "--out", str(out),
                               "--baselines", str(base_dir)])
    finally:
        mp.undo()
    assert code == 0
    return out, bad


def md_rows(path: Path) -> dict[str, dict[str, str]]:
    """Parse the pipe table of a Markdown file into {row label: {column: cell}}."""
    lines = [l for l in path.read_text().splitlines() if l.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header[1:], cells[1:]))
    return rows


def best_activation(arch: str, metric: str) -> str:
    means = {a: np.mean(expected_values(a, arch, metric)) for a in ACTS}
    return (max if metric == "top1" else min)(means, key=means.get)


def test_every_table_in_four_formats(published):
    out, _ = published
    for name in TABLES:
        for suffix in (".md", ".html", ".tex", ".csv"):
            path = out / f"{name}-{TAG}{suffix}"
            assert path.is_file() and path.stat().st_size > 0, path
    header = (out / f"leaderboard-classification-{TAG}.md").read_text()
    assert "smoke-scale results on a 2-core CPU, not paper-scale" in header
    assert "2-core CPU (Test CPU)" in header and "abc123def456" in header


@pytest.mark.parametrize("arch,dataset,metric", [("resnet18", "digits", "top1"), ("resnet18", "digits", "loss"),
                                                 ("gpt2", "local-text", "val_loss"), ("gpt2", "local-text", "perplexity")])
def test_markdown_leaderboard_values_and_no_winner_inside_the_noise(published, arch, dataset, metric):
    """Mean ± 95 % CI half-width per cell; with at most 3 seeds and gaps inside the spread
    nothing is bold and the caption says the column does not separate the activations."""
    out, _ = published
    path = out / f"{BOARD[arch]}-{TAG}.md"
    rows = md_rows(path)
    assert set(rows) == set(ACTS)
    column = f"{arch}/{dataset} {metric}"
    for act in ACTS:
        cell = rows[act][column]
        vals = np.array(expected_values(act, arch, metric))
        ci = stats.t.ppf(0.975, len(vals) - 1) * vals.std(ddof=1) / math.sqrt(len(vals))
        assert cell.startswith(f"{vals.mean():.3f} ± {ci:.3f} (n="), (act, cell)
        assert not cell.startswith("**") and rows[act]["rank"] == "—"
    assert "not ranked" in path.read_text()


def test_seed_bookkeeping_shown(published):
    out, _ = published
    cls, lm = md_rows(out / f"leaderboard-classification-{TAG}.md"), md_rows(out / f"leaderboard-lm-{TAG}.md")
    assert "(n=2/3, 1 failed)" in cls["pwlu"]["resnet18/digits top1"]
    assert "(n=2/3, 1 diverged)" in lm["relu"]["gpt2/local-text val_loss"]
    assert "(n=2/3, 1 missing)" in lm["swish"]["gpt2/local-text val_loss"]
    assert "(n=3)" in cls["relu"]["resnet18/digits top1"]


def test_overhead_and_kernel_columns(published):
    out, _ = published
    rows = md_rows(out / f"leaderboard-classification-{TAG}.md")
    for act in ACTS:
        share = 17 * ACTS.index(act) / 1000  # params written by make_store
        assert rows[act]["act. params"] == f"{100 * share:.3f} %"
        assert rows[act]["kernel / ReLU (cpu)"] == f"{BENCH_RATIO[act]:.2f}x"


def _bold_cells(html: str) -> set[tuple[int, int]]:
    style = re.search(r"<style[^>]*>(.*?)</style>", html, re.S).group(1)
    cells = set()
    for rule in style.split("}"):
        if "font-weight: bold" in rule:
            cells |= {(int(r), int(c)) for r, c in re.findall(r"_row(\d+)_col(\d+)", rule.split("{")[0])}
    return cells


def test_html_and_latex_render_the_table(published):
    out, _ = published
    summary = pd.read_csv(out / f"leaderboard-classification-{TAG}.csv")
    html = (out / f"leaderboard-classification-{TAG}.html").read_text()
    assert len(_bold_cells(html)) == int(summary["is_best"].sum()) == 0
    for act in ACTS:
        assert re.search(rf"<th [^>]*>{act}</th>", html), act  # the row labels are shown
    tex = (out / f"leaderboard-classification-{TAG}.tex").read_text()
    assert all(rule in tex for rule in (r"\toprule", r"\midrule", r"\bottomrule"))
    assert r"$\pm$" in next(l for l in tex.splitlines() if l.startswith("relu &"))


def test_csv_holds_the_numbers(published):
    out, _ = published
    summary = pd.read_csv(out / f"leaderboard-lm-{TAG}.csv")
    assert len(summary) == len(ACTS) * 2  # 2 metrics, 1 column
    row = summary[(summary["activation"] == "swish") & (summary["metric"] == "val_loss")].iloc[0]
    assert row["mean"] == pytest.approx(np.mean(expected_values("swish", "gpt2", "val_loss")))
    assert (row["n"], row["n_missing"]) == (2, 1)
    runs = pd.read_csv(out / f"runs-{TAG}.csv")
    assert sorted(runs["status"].value_counts().items()) == [("diverged", 1), ("done", 15), ("failed", 1)]


def test_deltas_table_has_pvalues_or_na(published):
    out, _ = published
    rows = md_rows(out / f"deltas-{TAG}.md")
    assert "(p=n/a, n=1)" in rows["swish"]["gpt2/local-text val_loss vs relu"]
    d = np.mean(expected_values("pwlu", "resnet18", "top1")) - np.mean(expected_values("relu", "resnet18", "top1"))
    assert rows["pwlu"]["resnet18/digits top1 vs relu"].startswith(f"{d:+.3f} (p=")


def test_every_plot_is_a_valid_nonempty_png(published):
    out, _ = published
    pngs = sorted((out / "plots").glob("*.png"))
    names = {p.name for p in pngs}
    expected = {"points-top1.png", "points-loss.png", "points-val-loss.png", "points-perplexity.png",
                "shapes-resnet18-digits-smoke.png", "shapes-gpt2-local-text-smoke.png",
                "curves-resnet18-digits-smoke.png", "curves-gpt2-local-text-smoke.png",
                "pareto.png", "profile.png"}
    assert expected <= names
    for path in pngs:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            assert im.format == "PNG" and im.width > 200 and im.height > 150
            lo, hi = im.convert("L").getextrema()
            assert hi - lo > 100, f"{path} looks blank"


def test_published_next_to_reproduced_with_difference(published):
    out, _ = published
    comp = pd.read_csv(out / f"published-vs-reproduced-{TAG}.csv")
    swish = comp[(comp["activation"] == "Swish") & (comp["metric"] == "top1")].iloc[0]
    repro = 100 * np.mean(expected_values("swish", "resnet18", "top1"))  # store holds fractions
    assert swish["reproduced"] == pytest.approx(repro)
    assert swish["difference"] == pytest.approx(repro - 90.0)
    assert swish["matched_arch"] == "resnet18" and swish["n"] == 3
    gain = comp[comp["metric"] == "top1_gain_over_swish"].iloc[0]
    # a published gain is compared with the gain paired over the seeds both ran (pwlu's seed 2 failed)
    repro_gain = 100 * np.mean([metric_value("pwlu", "resnet18", "top1", s) - metric_value("swish", "resnet18", "top1", s)
                                for s in (0, 1)])
    assert gain["reproduced"] == pytest.approx(repro_gain)
    assert gain["difference"] == pytest.approx(repro_gain - 1.0)
    never = comp[comp["arch"] == "ResNet-50"].iloc[0]
    assert math.isnan(never["reproduced"]) and never["published"] == 77.0
    md = (out / f"published-vs-reproduced-{TAG}.md").read_text()
    assert f"{repro - 90.0:+.2f}" in md and "not run" in md


def test_site_links_tables_plots_and_problems(published):
    out, bad = published
    html = (out / "index.html").read_text()
    for name in TABLES:
        assert f'href="{name}-{TAG}.md"' in html
    for src in re.findall(r'<img src="([^"]+)"', html):
        assert (out / src).is_file() and not Path(src).is_absolute()
    for path in bad.values():
        assert str(path) in html
    assert "Smoke-scale results on a 2-core CPU, not paper-scale" in html
    assert "RuntimeError: boom" in html and "diverged" in html  # unfinished cells listed
    # a contents line at the top reaches every section (the published comparison is long)
    toc = re.search(r'<nav class="toc".*?</nav>', html, re.S).group(0)
    ids = set(re.findall(r'<h2 id="([^"]+)"', html))
    assert set(re.findall(r'href="#([^"]+)"', toc)) == ids and "leaderboard-lm" in ids
    assert html.index('<nav class="toc"') < html.index("<h2")
    # commands in the published comparison are plain text in HTML, no Markdown backticks
    assert "`" not in re.sub(r"<code>.*?</code>", "", html.split('id="published')[1].split("<h2")[0])


def test_cli_reports_problems_and_bad_store(tmp_path, capsys):
    _, bad = make_store(tmp_path / "store")
    assert suite.cli.main(["report", "--store", str(tmp_path / "store"), "--out", str(tmp_path / "o"),
                           "--baselines", str(REPO / "baselines")]) == 0
    printed = capsys.readouterr().out
    for path in bad.values():
        assert path.name in printed.replace("\n", "")
    assert not (tmp_path / "o" / "index.html").exists()  # report writes no site; publish does
    # no bench records, no Pareto plot: a run's own throughput includes compiling kernels
    assert not (tmp_path / "o" / "plots" / "pareto.png").exists()
    assert suite.cli.main(["report", "--store", str(tmp_path / "nowhere")]) == 2
    assert "error: store" in capsys.readouterr().err


# ---------------------------------------------------------------- baseline CSVs

ARXIV = re.compile(r"^\d{4}\.\d{4,5}(v\d+)?$")


def test_repository_baseline_csvs_validate():
    files = sorted((REPO / "baselines").glob("*.csv"))
    assert files, "baselines/ holds no CSV"
    for path in files:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            assert reader.fieldnames == baselines.COLUMNS, path
            rows = list(reader)
        assert rows, f"{path} has no rows"
        for row in rows:
            assert ARXIV.match(row["arxiv"]), (path, row["arxiv"])
            assert math.isfinite(float(row["value"])), (path, row["value"])
            assert row["task"] in ("classification", "lm", "detection")
            assert row["table"].strip() and row["notes"].strip()
    loaded = baselines.load_baselines(REPO / "baselines")
    assert len(loaded) == sum(1 for p in files for _ in p.open()) - len(files)


@pytest.mark.parametrize("field,bad,message", [("arxiv", "arXiv:2104", "arxiv id"), ("value", "about 70", "value"),
                                               ("task", "segmentation", "task")])
def test_bad_baseline_rows_are_rejected(tmp_path, field, bad, message):
    row = dict(zip(baselines.COLUMNS, ["P", "Table 1", "2104.03693", "ReLU", "ResNet-18", "classification",
                                       "ImageNet", "top1", "70.0", "r", "n", "https://t", "paper"]))
    row[field] = bad
    path = tmp_path / "b.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=baselines.COLUMNS)
        writer.writeheader()
        writer.writerow(row)
    with pytest.raises(SuiteError, match=message):
        baselines.load_baselines(tmp_path)


def test_alias_matching():
    assert baselines.canonical("activation", "SiLU") == baselines.canonical("activation", "swish")
    assert baselines.canonical("arch", "MobileNet-V2") == baselines.canonical("arch", "mobilenetv2_100")
    assert baselines.canonical("arch", "ResNet-18") == baselines.canonical("arch", "resnet18")
    assert baselines.canonical("dataset", "ImageNet-1k") == "imagenet"


def test_store_is_not_modified_by_report(tmp_path):
    make_store(tmp_path / "store")
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "store").rglob("*"))
    assert suite.cli.main(["report", "--store", str(tmp_path / "store"), "--out", str(tmp_path / "o")]) == 0
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "store").rglob("*")) == before


def test_record_text_is_escaped_in_every_html_page(tmp_path):
    """Names come from store files anyone may write: markup in them must reach the pages as
    text, never as elements (a failed cell's error lands in the unfinished table too)."""
    from test_significance import rec

    from suite.store import Store

    evil = "<img src=x onerror=alert(1)>"
    store = Store(tmp_path / "store")
    for seed in range(3):
        store.write("train", f"a{seed}", rec("relu", evil, "classification", "<b>data</b>", {"top1": 0.5 + seed / 10},
                                             seed, recipe="<script>alert(2)</script>"))
    failed = rec("swish", evil, "classification", "<b>data</b>", {}, 0, recipe="r", status="failed")
    failed["error"] = {"type": "RuntimeError", "message": evil}
    store.write("train", "f0", failed)
    assert suite.cli.main(["publish", "--store", str(tmp_path / "store"), "--out", str(tmp_path / "o")]) == 0
    pages = [tmp_path / "o" / "index.html", *(tmp_path / "o").glob("leaderboard-*.html")]
    assert len(pages) == 2
    for page in pages:
        text = page.read_text()
        assert "<img src=x" not in text and "<script>alert" not in text and "<b>data" not in text, page
        assert "&lt;img src=x onerror=alert(1)&gt;" in text, page


def test_default_output_is_my_results_never_the_committed_results(tmp_path, monkeypatch):
    """A quick start's `publish` without --out leaves results/ (the committed board) alone."""
    make_store(tmp_path / "store")
    committed = tmp_path / "results" / "index.html"
    committed.parent.mkdir()
    committed.write_text("committed board")
    monkeypatch.chdir(tmp_path)
    assert suite.cli.main(["publish", "--store", "store"]) == 0
    assert committed.read_text() == "committed board"
    assert (tmp_path / "my-results" / "index.html").is_file()


def test_training_curves_draw_the_primary_metric_where_it_was_evaluated():
    from suite.report.plots import _curve_metric

    rows = [{"activation": "relu", "seed": 0, "step": s, "metric": m, "value": 1.0}
            for s in (10, 20, 30) for m in ("train_loss", "top1")]
    frame = pd.DataFrame(rows)
    assert _curve_metric(frame, "classification") == "top1"
    # evaluated once (at the end): no curve of it, so the training loss is drawn
    once = frame[(frame["metric"] == "train_loss") | (frame["step"] == 30)]
    assert _curve_metric(once, "classification") == "train_loss"


def test_training_curves_caption_names_metric_and_reference(published):
    out, _ = published
    from suite.report.aggregate import load_runs
    from suite.report.plots import training_curves

    figures = training_curves(load_runs(out.parent / "store"), out.parent / "curves-check")
    assert figures and all(f.path.exists() for f in figures)
    lm = next(f for f in figures if "gpt2" in f.path.name)
    assert "val_loss" in lm.caption and "against relu" in lm.caption


def test_pareto_uses_step_times_only_when_every_benched_activation_has_one(tmp_path):
    from suite.report.build import build_report

    store, _ = make_store(tmp_path / "store")
    for act, ratio in BENCH_RATIO.items():
        store.write("bench", f"{act}-cpu", {
            "activation": act, "impl": "reference", "device": "cpu", "dtype": "float32",
            "shape": [4096], "ratio_to_relu": {"fwdbwd": ratio}, "ratio_to_copy": {"fwdbwd": 2 * ratio}})

    def step(act):
        store.write("bench", f"{act}-step", {"benchmark": "train_step", "model": "resnet_tiny", "activation": act,
                                             "act_params": {}, "device": "cpu", "ratio_to_relu": 1.2})

    def pareto_caption(out):
        report = build_report(tmp_path / "store", tmp_path / out, REPO / "baselines")
        return next(f.caption for f in report.figures if f.path.name == "pareto.png")

    step("pwlu")  # one activation's step time: the plot would have one point
    assert "against kernel fwd+bwd time" in pareto_caption("o1")
    step("swish")  # every benched activation but ReLU (whose ratio is 1): step times
    assert "against training step time" in pareto_caption("o2")
