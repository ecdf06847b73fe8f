"""A user's own activation, with no edit to the suite: the example package
examples/my-activation (SmeLU) through `run` (--jobs 2, SLURM), `bench` and `report`, as an
entry point of an installed distribution and as a --plugin file; one spec syntax
(name:key=value) in every verb and in matrix files; a CLI start-up without torch.

Plugins are loaded in subprocesses only: registering a name here would add it to every
"*" of this test session's matrices.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from suite import actspec
from suite.errors import SuiteError
from suite.matrix import expand
from suite.store import Store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "my-activation" / "smelu_act.py"
FAST = 'recipe_overrides = { steps = 6, eval_every = 6, checkpoint_every = 3 }\n'


def _suite(args, *, extra_path=(), cwd=None, timeout=600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *map(str, extra_path)])}
    env.pop("SUITE_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "suite", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd or ROOT, timeout=timeout)


def _installed(tmp_path: Path) -> Path:
    """A site folder holding the example as if pip had installed it: the module and a
    dist-info whose entry_points.txt declares the group suite.activations."""
    site = tmp_path / "site"
    dist = site / "smelu_act-0.1.0.dist-info"
    dist.mkdir(parents=True)
    shutil.copy(EXAMPLE, site / "smelu_act.py")
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: smelu-act\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[suite.activations]\nsmelu = smelu_act\n")
    return site


def _matrix(path: Path, acts: list[str], *, seeds=(0, 1), plugins: list[str] | None = None) -> Path:
    arch = next(c.arch for c in expand("smoke") if c.task == "classification")
    path.write_text(
        'name = "mine"\n'
        + (f"plugins = {json.dumps(plugins)}\n" if plugins is not None else "")
        + f"[[block]]\nactivations = {json.dumps(acts)}\narchs = [\"{arch}\"]\n"
        'task = "classification"\ndataset = "digits"\nrecipe = "smoke"\n'
        f"seeds = {json.dumps(list(seeds))}\n" + FAST
        + 'resources = { cpus = 1, mem_gb = 2, time_min = 5 }\n')
    return path


def _train_records(store: Path) -> list[dict]:
    return Store(store).load("train")[0]


# --- the spec syntax -----------------------------------------------------------------------


def test_spec_parses_values_and_formats_back():
    name, params = actspec.parse("pwlu:regions=16, bound=2.5,learn_bounds=true,init=relu")
    assert name == "pwlu" and params == {"regions": 16, "bound": 2.5, "learn_bounds": True, "init": "relu"}
    assert actspec.format(name, params) == "pwlu:bound=2.5,init=relu,learn_bounds=true,regions=16"
    assert actspec.parse(actspec.format(name, params)) == (name, params)
    for bad in ("hermite:degree", "hermite:=3", ":degree=3", "hermite:degree="):
        with pytest.raises(SuiteError, match="not accepted"):
            actspec.parse(bad)


def test_matrix_entries_and_run_filters_take_the_same_spec(tmp_path):
    path = _matrix(tmp_path / "m.toml", ["hermite:degree=8", "relu"], seeds=[0])
    cells = {c.activation: c for c in expand(str(path))}
    assert cells["hermite"].act_params == {"degree": 8} and cells["relu"].act_params == {}
    # --act's parameters override the matrix's: a new cell (new id), not the degree-8 one
    (over,) = expand(str(path), activations=["hermite:degree=5"])
    assert over.act_params == {"degree": 5} and over.id != cells["hermite"].id
    (same,) = expand(str(path), activations=["hermite"])
    assert same.id == cells["hermite"].id
    with pytest.raises(SuiteError, match="no parameter 'degre'.*did you mean 'degree'"):
        expand(str(path), activations=["hermite:degre=5"])
    with pytest.raises(SuiteError, match=r"field block\[0\]\.activations\[0\].*no parameter 'degre'"):
        expand(str(_matrix(tmp_path / "bad.toml", ["hermite:degre=8"])))


def test_run_accepts_a_spec_with_parameters(tmp_path):
    """`run --act hermite:degree=8` was refused while `bench --act hermite:degree=8` worked."""
    from suite.cli import main

    path = _matrix(tmp_path / "m.toml", ["hermite:degree=3", "relu"], seeds=[0])  # a matrix valid on its own
    assert main(["run", "--matrix", str(path), "--act", "hermite:degree=8", "--dry-run",
                 "--store", str(tmp_path / "store")]) == 0


# --- start-up --------------------------------------------------------------------------------


def test_help_imports_no_torch_and_lists_every_command():
    code = ("import sys\nfrom suite.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("NO-TORCH")
    for command in ("list", "build", "run", "bench", "report", "publish", "data"):
        assert command in out.stdout
    assert "Warning" not in out.stderr


def test_a_missing_plugin_is_one_error_line(tmp_path):
    out = _suite(["list", "activations", "--plugin", tmp_path / "nope.py"])
    assert out.returncode == 2 and out.stderr.startswith("error: plugin file") and "nope.py" in out.stderr
    assert "Traceback" not in out.stderr
    out = _suite(["list", "activations", "--plugin", "no_such_module_here"])
    assert out.returncode == 2 and "'no_such_module_here'" in out.stderr and "Traceback" not in out.stderr
    clash = tmp_path / "clash.py"  # a plugin reusing a suite name is refused, naming itself
    clash.write_text("from torch import nn\nfrom suite.activations import register_activation\n"
                     "register_activation('relu', family='x', paper='x', learnable=False)(nn.ReLU)\n")
    out = _suite(["list", "activations", "--plugin", clash])
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith(f"error: plugin '{clash}' failed to import") and "'relu' is registered twice" in out.stderr


# --- end to end ------------------------------------------------------------------------------


@pytest.mark.slow
def test_installed_package_runs_with_two_jobs_then_bench_and_report(tmp_path):
    """The entry point alone (no --plugin): two worker processes train its cells, bench
    times it with parameters, report ranks it; each record names the plugin's source hash.
    Before plugins, the workers failed with "unknown activation"."""
    site = _installed(tmp_path)
    store = tmp_path / "store"
    listed = _suite(["list", "activations"], extra_path=[site])
    assert listed.returncode == 0 and "smelu" in listed.stdout, listed.stderr
    matrix = _matrix(tmp_path / "m.toml", ["smelu:beta=0.5", "relu"], seeds=[0])
    ran = _suite(["run", "--matrix", matrix, "--jobs", "2", "--store", store], extra_path=[site])
    assert ran.returncode == 0, ran.stdout + ran.stderr
    records = _train_records(store)
    assert sorted((r["cell"]["activation"], r["status"]) for r in records) == [("relu", "done"), ("smelu", "done")]
    mine = next(r for r in records if r["cell"]["activation"] == "smelu")
    assert mine["cell"]["act_params"] == {"beta": 0.5}
    (plugin,) = mine["provenance"]["plugins"]
    assert plugin["module"] == "smelu_act"
    assert plugin["sha256"] == hashlib.sha256((site / "smelu_act.py").read_bytes()).hexdigest()

    bench = _suite(["bench", "--act", "smelu:beta=0.5", "--shape", "4,8,64", "--quick", "--store", store],
                   extra_path=[site])
    assert bench.returncode == 0 and "smelu:beta=0.5" in bench.stdout, bench.stdout + bench.stderr
    report = _suite(["report", "--store", store, "--out", tmp_path / "out"], extra_path=[site])
    assert report.returncode == 0, report.stdout + report.stderr
    board = next((tmp_path / "out").glob("leaderboard-*.md")).read_text()
    assert "smelu" in board and "relu" in board


@pytest.mark.slow
def test_plugin_file_reaches_the_workers_from_the_matrix_and_from_the_flag(tmp_path):
    """A .py file named by the matrix (`plugins = [...]`, relative to the file) trains in two
    worker processes; the same file by --plugin serves bench."""
    shutil.copy(EXAMPLE, tmp_path / "smelu_act.py")
    matrix = _matrix(tmp_path / "m.toml", ["smelu"], plugins=["smelu_act.py"])
    store = tmp_path / "store"
    ran = _suite(["run", "--matrix", matrix, "--jobs", "2", "--store", store])
    assert ran.returncode == 0, ran.stdout + ran.stderr
    records = _train_records(store)
    assert [r["status"] for r in records] == ["done", "done"]
    assert all(r["provenance"]["plugins"][0]["source"] == str(tmp_path / "smelu_act.py") for r in records)
    bench = _suite(["bench", "--plugin", tmp_path / "smelu_act.py", "--act", "smelu", "--shape", "4,8,64",
                    "--quick", "--no-store"])
    assert bench.returncode == 0 and "smelu" in bench.stdout, bench.stdout + bench.stderr


@pytest.mark.slurm
def test_plugin_reaches_slurm_jobs(tmp_path):
    """--plugin on the submitting command is imported inside the SLURM job."""
    out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip(), "start the cluster: bash slurm/local-cluster.sh start"
    shutil.copy(EXAMPLE, tmp_path / "smelu_act.py")
    matrix = _matrix(tmp_path / "m.toml", ["smelu:beta=2"], seeds=[0])
    store = tmp_path / "store"
    ran = _suite(["run", "--plugin", tmp_path / "smelu_act.py", "--matrix", matrix, "--executor", "slurm",
                  "--profile", "local", "--wait", "--store", store])
    assert ran.returncode == 0, ran.stdout + ran.stderr
    (record,) = _train_records(store)
    assert record["status"] == "done" and record["executor"]["kind"] == "slurm"
    assert record["provenance"]["plugins"][0]["module"] == "smelu_act"
