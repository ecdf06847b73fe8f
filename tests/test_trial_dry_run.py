"""`suite run --max-steps N` on every recipe (epoch-based too), kept apart from the full
recipe's cells and column; a truthful --dry-run (missing data, resources after the SLURM
profile's caps); a cell with gpus = 8 launches 8 DDP ranks."""
from __future__ import annotations

import argparse
import re

import pytest

import real_formats
from suite.cell import Cell, Resources
from suite.errors import SuiteError
from suite.launch.profile import Profile, submitit_parameters
from suite.matrix import expand
from suite.store import Store
from suite.tasks.recipes import get_recipe


def _cli(argv) -> int:
    from suite.launch import cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _matrix(tmp_path, *, dataset="digits", recipe="embedded", resources="{ cpus = 1, mem_gb = 2, time_min = 5 }"):
    path = tmp_path / "m.toml"
    path.write_text(
        'name = "m"\n[[block]]\nactivations = ["relu"]\narchs = ["cnn_small"]\n'
        f'task = "classification"\ndataset = "{dataset}"\nrecipe = "{recipe}"\n'
        f"resources = {resources}\n")
    return path


@pytest.mark.parametrize("recipe, per_epoch", [("pwlu-imagenet", 1251), ("ortho-convnext", 312), ("embedded", 22)])
def test_steps_and_max_steps_override_epoch_based_recipes(recipe, per_epoch):
    assert get_recipe("classification", recipe).epochs  # epoch-based: `steps = N` used to be "both given"
    by_steps = get_recipe("classification", recipe, {"steps": 40})
    assert (by_steps.steps, by_steps.epochs, by_steps.total_steps(per_epoch)) == (40, None, 40)
    capped = get_recipe("classification", recipe, {"max_steps": 7})
    assert capped.total_steps(per_epoch) == 7 and capped.epochs == get_recipe("classification", recipe).epochs
    assert get_recipe("classification", recipe, {"max_steps": 10**9}).total_steps(per_epoch) > 7
    with pytest.raises(SuiteError, match="max_steps"):
        get_recipe("classification", recipe, {"max_steps": 0})


def test_max_steps_on_the_lm_and_detection_paper_recipes():
    assert get_recipe("lm", "ortho-gpt2", {"max_steps": 5}).total_steps(1) == 5
    assert get_recipe("detection", "coco", {"max_steps": 5}).total_steps(1) == 5


def test_a_max_steps_trial_runs_an_epoch_recipe_short_under_its_own_id_and_column(tmp_path, capsys):
    from suite.report.aggregate import load_runs

    store = Store(tmp_path / "store")
    matrix = _matrix(tmp_path)
    argv = ["run", "--matrix", str(matrix), "--store", str(store.root), "--device", "cpu", "--jobs", "1"]
    assert _cli(argv + ["--max-steps", "3"]) == 0
    (full,) = expand(str(matrix))
    (rec,) = store.load("train")[0]
    assert rec["status"] == "done" and rec["steps"] == 3 and rec["cell"]["recipe_overrides"] == {"max_steps": 3}
    assert rec["cell_id"] != full.id and rec["recipe"]["max_steps"] == 3
    assert list(load_runs(store).frame["recipe"]) == ["embedded [max_steps=3]"]
    capsys.readouterr()
    assert _cli(argv + ["--dry-run"]) == 0  # the full cell is still to run: the trial did not finish it
    assert re.search(rf"{full.id}.*pending", capsys.readouterr().out)
    with pytest.raises(SuiteError, match="--max-steps 0"):
        _cli(argv + ["--max-steps", "0"])


def test_dry_run_says_cells_without_their_data_cannot_run(tmp_path, capsys):
    matrix = _matrix(tmp_path, dataset="imagenet", recipe="pwlu-imagenet")
    argv = ["run", "--matrix", str(matrix), "--store", str(tmp_path / "store"), "--dry-run",
            "--data-root", str(tmp_path / "data")]
    assert _cli(argv) == 0
    out = capsys.readouterr().out
    assert "0 would run, 1 cannot run" in out and "cannot run: data set 'imagenet' not found under" in out
    real_formats.ilsvrc_tree(tmp_path / "data")
    assert _cli(argv) == 0
    out = capsys.readouterr().out
    assert "1 would run." in out and "cannot run" not in out


def test_dry_run_on_slurm_shows_resources_after_the_profiles_caps(tmp_path, capsys):
    matrix = _matrix(tmp_path, resources="{ cpus = 8, mem_gb = 64, time_min = 600 }")
    argv = ["run", "--matrix", str(matrix), "--store", str(tmp_path / "store"), "--dry-run",
            "--executor", "slurm", "--profile", "local"]
    assert _cli(argv) == 0
    out = capsys.readouterr().out
    assert "cpu, 1 task, 1 cpu/task, 4 GB, 60 min (capped from cpus 8, mem_gb 64, time_min 600)" in out
    assert "8 cpu, 64 GB, 600 min" not in out  # what the cell asked for is not what it gets
    gpu = _matrix(tmp_path, resources="{ gpus = 8, cpus = 8, mem_gb = 64, time_min = 600 }")
    assert _cli(["run", "--matrix", str(gpu), "--store", str(tmp_path / "store"), "--dry-run",
                 "--executor", "slurm", "--profile", "local"]) == 0
    out = capsys.readouterr().out
    assert "0 would run, 1 cannot run" in out and "refused: a cell asks for 8 GPUs" in out


def test_a_cell_with_eight_gpus_launches_eight_ddp_ranks():
    params = submitit_parameters(Profile(max_gpus_per_node=8), Resources(gpus=8, nodes=2, cpus=10), name="x")
    assert (params["tasks_per_node"], params["gpus_per_node"], params["nodes"]) == (8, 8, 2)
    assert submitit_parameters(Profile(), Resources(), name="x")["tasks_per_node"] == 1
    cell = Cell(activation="relu", arch="a", task="classification", dataset="digits", recipe="smoke",
                resources=Resources(gpus=8))
    assert cell.id == Cell(**{**cell.model_dump(), "resources": Resources()}).id  # resources are not identity


class FakeSubmission:
    def __init__(self, countdown):
        self._timeout_countdown = countdown


class FakeSignalHandler:
    """submitit's SignalHandler as CellJob sees it: a bound checkpoint_and_try_requeue."""

    def __init__(self, countdown, timed_out=True):
        self._delayed, self.timed_out, self.calls = FakeSubmission(countdown), timed_out, []

    def has_timed_out(self):
        return self.timed_out

    def checkpoint_and_try_requeue(self, signum, frame):
        self.calls.append(signum)
        raise SystemExit(-1)  # submitit requeues and exits, or raises to end the job


@pytest.mark.parametrize("countdown, timed_out, recorded", [(0, True, True), (1, True, False), (0, False, False)])
def test_a_job_out_of_requeues_records_a_failure_that_retry_failed_picks_up(tmp_path, countdown, timed_out, recorded):
    import submitit

    from suite.launch.plan import Plan
    from suite.launch.slurm import CellJob

    store = Store(tmp_path / "store")
    (cell,) = expand(str(_matrix(tmp_path)))
    job = CellJob(str(store.root), token="t", device="cpu", max_requeues=3)
    handler = FakeSignalHandler(countdown, timed_out)
    usr = submitit.JobEnvironment._usr_sig()
    job._submitit_handler, job._signals = handler.checkpoint_and_try_requeue, [usr]
    with pytest.raises(SystemExit):
        job._after_stop(cell, store, {"kind": "slurm", "job_id": "7"}, wait_for_notice_s=0)
    assert handler.calls == [usr]  # submitit still decides: requeue, or end the job
    statuses = store.status_of([cell.id])
    if not recorded:  # requeued (or a preemption, which never uses up requeues): no record
        assert statuses[cell.id] == "pending"
        return
    (rec,) = store.load("train")[0]
    assert rec["status"] == "failed" and rec["error"]["type"] == "OutOfRequeues"
    assert "max_requeues (3)" in rec["error"]["message"] and "--retry-failed" in rec["error"]["message"]
    assert Plan([cell], statuses).to_run == [] and Plan([cell], statuses, retry_failed=True).to_run == [cell]
