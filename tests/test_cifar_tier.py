"""The CIFAR tier as a whole: recipes, the paper-swish-cifar matrix, its cells' keys against
the Swish paper's CIFAR rows, and one shrunk cell per network run end to end on the CPU."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from suite.matrix import expand, load_matrix
from suite.report import baselines, published
from suite.store import Store
from suite.tasks.recipes import get_recipe
from tests.cifar_files import write_cifar10, write_cifar100

SWISH_ARXIV = "1710.05941"
# The keys of the Swish paper's CIFAR rows (Tables 4-5) as the paper spells them, as
# /work/shared/published/numbers-from-papers.csv records them; keys only, no numbers.
PAPER_ACTIVATIONS = ("ReLU", "LReLU", "PReLU", "Softplus", "ELU", "SELU", "GELU", "Swish-1", "Swish")
PAPER_ARCHS = ("ResNet-164", "WRN-28-10", "DenseNet-100-12")
PAPER_DATASETS = ("CIFAR-10", "CIFAR-100")
# What each spelling means in the suite: LReLU alpha 0.01 is leaky_relu's default,
# Swish-1 is beta = 1 (SiLU), Swish has a trainable beta (swish_beta).
SUITE_ACTIVATION = {"ReLU": "relu", "LReLU": "leaky_relu", "PReLU": "prelu", "Softplus": "softplus",
                    "ELU": "elu", "SELU": "selu", "GELU": "gelu", "Swish-1": "silu", "Swish": "swish_beta"}
SUITE_ARCH = {"ResNet-164": "resnet164", "WRN-28-10": "wrn28_10", "DenseNet-100-12": "densenet100_12"}
RECIPE = {"resnet164": "cifar-preresnet", "wrn28_10": "cifar-wrn", "densenet100_12": "cifar-densenet"}
LEARNABLE = {"pwlu", "hermite", "fourier", "tropical", "apalu", "pau", "acon_c", "meta_acon"}


def test_recipes_are_the_networks_own():
    wrn = get_recipe("classification", "cifar-wrn")
    steps_per_epoch = 50_000 // 128
    assert (wrn.epochs, wrn.batch_size, wrn.lr, wrn.weight_decay, wrn.nesterov, wrn.gamma) == (200, 128, 0.1, 5e-4, True, 0.2)
    total = wrn.total_steps(steps_per_epoch)
    assert [round(f * total) / steps_per_epoch for f in wrn.milestones] == [60, 120, 160]
    assert wrn.data_options == {"pad_mode": "reflect"}
    dense = get_recipe("classification", "cifar-densenet")
    assert (dense.epochs, dense.batch_size, dense.weight_decay, dense.nesterov, dense.milestones) == (
        300, 64, 1e-4, True, (0.5, 0.75))
    pre = get_recipe("classification", "cifar-preresnet")
    assert (pre.steps, pre.batch_size, pre.weight_decay, pre.nesterov, pre.warmup_steps) == (64_000, 128, 1e-4, False, 400)
    assert [f * pre.steps for f in pre.milestones] == [32_000, 48_000]
    assert pre.verified is False  # the warm-up is a ramp where the paper holds 0.01
    for recipe in (wrn, dense, pre):
        assert recipe.optimizer == "sgd" and recipe.momentum == 0.9 and "arXiv" in recipe.source
        assert not recipe.no_decay_act_and_1d  # Torch/Caffe SGD decayed every parameter


def test_matrix_crosses_every_table_activation_and_the_learnable_ones_with_5_seeds_on_one_gpu():
    cells = expand("paper-swish-cifar")
    acts = set(SUITE_ACTIVATION.values()) | LEARNABLE
    assert len(cells) == len(acts) * 3 * 2 * 5
    assert {c.activation for c in cells} == acts
    assert {(c.arch, c.dataset) for c in cells} == {(a, d) for a in RECIPE for d in ("cifar10", "cifar100")}
    for cell in cells:
        assert cell.recipe == RECIPE[cell.arch]
        assert cell.seed in range(5)
        res = cell.resources
        assert (res.gpus, res.nodes) == (1, 1) and res.time_min > 0
    by_key = {(c.activation, c.arch, c.dataset, c.seed): c for c in cells}
    assert by_key[("prelu", "resnet164", "cifar10", 0)].act_params == {"per_channel": True}
    assert by_key[("swish_beta", "wrn28_10", "cifar100", 4)].act_params == {"per_channel": True}
    # learnable activations are given more time than the fixed ones on the same network
    fixed = by_key[("relu", "wrn28_10", "cifar10", 0)].resources.time_min
    assert by_key[("pwlu", "wrn28_10", "cifar10", 0)].resources.time_min > fixed


def test_dry_run_lists_every_cell_with_its_gpu_and_time(tmp_path, capsys):
    from suite.launch import cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["run", "--matrix", "paper-swish-cifar", "--dry-run", "--store", str(tmp_path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    cells = expand("paper-swish-cifar")
    assert f"{len(cells)} cells" in out
    for cell in cells:
        assert cell.id in out
    assert out.count("1 gpu x 1 node") == len(cells)


def test_every_cifar_row_of_the_swish_paper_has_cells_with_its_keys():
    cells = expand("paper-swish-cifar")
    keys = {(c.activation, c.arch, c.dataset) for c in cells}
    for act in PAPER_ACTIVATIONS:
        for arch in PAPER_ARCHS:
            for dataset in PAPER_DATASETS:
                matched = [(a, r, d) for a, r, d in keys
                           if a == SUITE_ACTIVATION[act] and r == SUITE_ARCH[arch]
                           # the report matches architectures and data sets by this key
                           and baselines.canonical("arch", r) == baselines.canonical("arch", arch)
                           and baselines.canonical("dataset", d) == baselines.canonical("dataset", dataset)]
                assert len(matched) == 1, (act, arch, dataset)
                assert len([c for c in cells if (c.activation, c.arch, c.dataset) == matched[0]]) == 5


def _swish_cifar_baselines() -> pd.DataFrame:
    frame = baselines.load_baselines()
    return frame[(frame["arxiv"].str.startswith(SWISH_ARXIV)) & frame["dataset"].str.upper().str.startswith("CIFAR")]


def test_the_swish_cifar_baselines_match_the_matrix_cells_one_to_one():
    rows = _swish_cifar_baselines()
    keys = set(zip(rows["activation"], rows["arch"], rows["dataset"]))
    assert len(rows) == len(keys) == len(PAPER_ACTIVATIONS) * len(PAPER_ARCHS) * len(PAPER_DATASETS)
    # Every shipped matrix: the paper's own blocks (reproduces = ["1710.05941"]) must win.
    cells = published.matrix_cells()
    mine = [c for c in cells if SWISH_ARXIV in c.reproduces and c.matrix == "paper-swish-cifar"]
    empty = pd.DataFrame(columns=["key", "activation", "arch", "task", "dataset", "recipe", "seed", "metric", "value"])
    compared = published.compare(rows, empty, cells)
    assert len(compared) == len(rows)
    for row in compared.itertuples():
        act, arch, dataset = SUITE_ACTIVATION[row.activation], SUITE_ARCH[row.arch], row.dataset.lower().replace("-", "")
        # one-to-one: exactly one (activation, network, data set) cell of the paper's blocks
        assert len([c for c in mine if (c.activation, c.arch, c.dataset) == (act, arch, dataset)]) == 1, row
        assert (row.status, row.matrix, row.reason) == ("not run", "paper-swish-cifar", ""), row
        assert row.command == f"python -m suite run --matrix paper-swish-cifar --act {act} --arch {arch}", row
        # the GPU-hours of that command's cells (both data sets, 5 seeds), as its --dry-run prints
        run = expand("paper-swish-cifar", activations=[act], archs=[arch])
        assert len(run) == 10
        assert row.gpu_hours == pytest.approx(sum(c.resources.time_min for c in run) / 60), row
    # one run of every cell of those blocks: each published number meets its own cell only
    values = pd.DataFrame([{"key": f"{c.activation}-{c.arch}-{c.dataset}", "activation": c.activation,
                            "arch": c.arch, "task": "classification", "dataset": c.dataset, "recipe": c.recipe,
                            "seed": 0, "metric": "top1", "value": 0.5} for c in mine])
    compared = published.compare(rows, values, cells)
    assert (compared["status"] == "compared").all() and (compared["n"] == 1).all()
    for row in compared.itertuples():
        assert row.matched_activation == SUITE_ACTIVATION[row.activation], row
        assert row.matched_arch == SUITE_ARCH[row.arch], row
        assert row.matched_recipe == RECIPE[row.matched_arch], row
        assert row.reproduced == pytest.approx(50.0)  # fractions become the paper's percent


def test_the_page_shows_each_missing_cifar_number_with_its_command_and_gpu_hours():
    rows = _swish_cifar_baselines()
    empty = pd.DataFrame(columns=["key", "activation", "arch", "task", "dataset", "recipe", "seed", "metric", "value"])
    page = published.to_markdown(published.compare(rows, empty), [])
    for act, arch in (("swish_beta", "densenet100_12"), ("leaky_relu", "wrn28_10"), ("silu", "resnet164")):
        hours = sum(c.resources.time_min for c in expand("paper-swish-cifar", activations=[act], archs=[arch])) / 60
        assert f"`python -m suite run --matrix paper-swish-cifar --act {act} --arch {arch}` ({hours:,.0f} GPU-hours)" in page
    assert f"{len(rows)} published number(s): 0 compared with a run, {len(rows)} not run yet, 0 cannot be matched" in page


# Shrinks a cell to seconds on a CPU: the networks' CPU-sized variants, batches of 8, two
# steps; epochs recipes are shrunk through epochs (TOML has no null to clear them).
SHRINK = {
    "resnet164": "steps = 2, warmup_steps = 0, model_kwargs = { depth = 11 }",
    "wrn28_10": "epochs = 0.4, model_kwargs = { depth = 10, widen_factor = 1 }",
    "densenet100_12": "epochs = 0.4, model_kwargs = { depth = 10, growth_rate = 4 }",
}
COMMON = "batch_size = 8, eval_batch_size = 16, num_workers = 0, checkpoint_every = 0"


def _shrunk_matrix(tmp_path: Path) -> Path:
    text = 'name = "swish-cifar-cpu"\n[act_params]\nswish_beta = { per_channel = true }\n'
    for arch, dataset in (("resnet164", "cifar10"), ("wrn28_10", "cifar100"), ("densenet100_12", "cifar10")):
        text += ("[[block]]\n"
                 f'activations = ["relu", "swish_beta"]\narchs = ["{arch}"]\ntask = "classification"\n'
                 f'dataset = "{dataset}"\nrecipe = "{RECIPE[arch]}"\n'
                 f"recipe_overrides = {{ {SHRINK[arch]}, {COMMON} }}\n"
                 "resources = { cpus = 1, mem_gb = 2, time_min = 5 }\n")
    path = tmp_path / "swish-cifar-cpu.toml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_one_shrunk_cell_per_network_runs_on_the_cpu_and_meets_its_published_row(tmp_path, monkeypatch):
    from suite.launch import cli

    monkeypatch.setenv("SUITE_FUSED", "0")  # no per-width kernel compiles in the workers
    write_cifar10(tmp_path / "data")
    write_cifar100(tmp_path / "data")
    matrix = _shrunk_matrix(tmp_path)
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["run", "--matrix", str(matrix), "--store", str(tmp_path / "store"),
                              "--data-root", str(tmp_path / "data"), "--device", "cpu", "--jobs", "1"])
    assert args.func(args) == 0
    cells = expand(str(matrix))
    records = {r["key"]: r for r in Store(tmp_path / "store").load("train")[0]}
    assert set(records) == {c.id for c in cells}
    for cell in cells:
        rec = records[cell.id]
        assert rec["status"] == "done", rec.get("error")
        assert rec["steps"] == 2 and 0 <= rec["metrics"]["top1"] <= 1
        assert rec["recipe"]["name"] == RECIPE[cell.arch] and rec["recipe"]["batch_size"] == 8
    # `suite report` puts each run next to the Swish paper's number for its network and activation
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run([sys.executable, "-m", "suite", "report", "--store", str(tmp_path / "store"),
                    "--out", str(tmp_path / "report")], check=True, env=env, capture_output=True, text=True)
    (csv,) = (tmp_path / "report").glob("published-vs-reproduced-*.csv")
    table = pd.read_csv(csv, dtype={"arxiv": str})
    shipped = _swish_cifar_baselines()
    ran = table[table["status"] == "compared"]
    expected = {("ReLU", "ResNet-164", "CIFAR-10"), ("Swish", "ResNet-164", "CIFAR-10"),
                ("ReLU", "WRN-28-10", "CIFAR-100"), ("Swish", "WRN-28-10", "CIFAR-100"),
                ("ReLU", "DenseNet-100-12", "CIFAR-10"), ("Swish", "DenseNet-100-12", "CIFAR-10")}
    assert set(zip(ran["activation"], ran["arch"], ran["dataset"])) == expected
    for row in ran.itertuples():
        assert str(row.arxiv) == SWISH_ARXIV and row.n == 1 and 0 <= row.reproduced <= 100, row
        assert (row.matched_activation, row.matched_arch) == (SUITE_ACTIVATION[row.activation], SUITE_ARCH[row.arch])
        (paper_value,) = shipped[(shipped["activation"] == row.activation) & (shipped["arch"] == row.arch)
                                 & (shipped["dataset"] == row.dataset)]["value"]
        assert row.published == paper_value  # the paper's own number, read from baselines/
        assert row.difference == pytest.approx(row.reproduced - paper_value)


def test_the_shipped_matrix_loads_from_its_name():
    assert load_matrix("paper-swish-cifar").name == "paper-swish-cifar"


def test_the_median_over_seeds_is_shown_beside_the_mean(tmp_path):
    from suite.report.aggregate import load_runs
    from suite.report.medians import median_table, seed_medians

    store = Store(tmp_path / "store")
    for seed, top1 in enumerate([0.90, 0.91, 0.95, 0.96, 0.99]):  # mean 0.942, median 0.95
        store.write("train", f"k{seed}", {"status": "done", "metrics": {"top1": top1},
                                          "cell": {"activation": "relu", "arch": "resnet164", "task": "classification",
                                                   "dataset": "cifar10", "recipe": "cifar-preresnet", "seed": seed}})
    runs = load_runs(store.root)
    (row,) = seed_medians(runs).query("metric == 'top1'").itertuples()
    assert (row.median, round(row.mean, 3), row.n) == (0.95, 0.942, 5)
    assert median_table(runs).loc["relu", ("resnet164", "cifar10")] == "95.00 (94.20, 5)"
