"""Checkpoint/resume: a run stopped or killed mid-way and resumed ends with exactly the
numbers of an uninterrupted run (same seed, deterministic CPU)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import tiny_models
from suite.cell import Cell
from suite.errors import SuiteError
from suite.tasks import StopRequested, request_checkpoint_and_stop, run_cell

TESTS = Path(__file__).parent


@pytest.fixture(autouse=True)
def tiny(monkeypatch):
    with tiny_models.single_threaded(monkeypatch):
        yield


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def make_cell(task="classification", activation="learnable", **overrides):
    dataset = {"classification": "digits", "lm": "local-text"}[task]
    overrides = {"checkpoint_every": 10, "eval_every": 15, **overrides}
    return Cell(activation=activation, arch="tiny", task=task, dataset=dataset, recipe="smoke",
                recipe_overrides=overrides, seed=3)


def comparable(result):
    return result["metrics"], result["history"], result["steps"], result["activation_shapes"]


def stop_at(step):
    def hook(s):
        if s == step:
            request_checkpoint_and_stop()

    return hook


@pytest.mark.parametrize("task, stop", [("classification", 13), ("lm", 20)])
def test_stop_hook_saves_and_a_resumed_run_matches_an_uninterrupted_one(tmp_path, data_root, monkeypatch, task, stop):
    cell = make_cell(task)
    reference = run_cell(cell, tmp_path / "reference", data_root=data_root, progress=False)
    monkeypatch.setattr("suite.tasks.loop.STEP_HOOKS", [stop_at(stop)])
    with pytest.raises(StopRequested) as info:
        run_cell(cell, tmp_path / "work", data_root=data_root, progress=False)
    assert info.value.step == stop and Path(info.value.checkpoint).is_file()
    assert torch.load(info.value.checkpoint, weights_only=False)["step"] == stop
    monkeypatch.setattr("suite.tasks.loop.STEP_HOOKS", [])
    resumed = run_cell(cell, tmp_path / "work", data_root=data_root, progress=False)
    assert resumed["resumed_from_step"] == stop
    assert comparable(resumed) == comparable(reference)


CHILD = """
import os, signal, sys, torch
sys.path.insert(0, {tests!r})
torch.set_num_threads(1)
import tiny_models
tiny_models.install()
from suite.cell import Cell
from suite.tasks import STEP_HOOKS, run_cell

def kill(step):
    if step == 25:  # a checkpoint was written at step 20; die without any chance to save
        os.kill(os.getpid(), signal.SIGKILL)

STEP_HOOKS.append(kill)
cell = Cell.model_validate_json({cell!r})
run_cell(cell, {work!r}, data_root={root!r}, progress=False)
"""


def test_a_run_killed_with_sigkill_resumes_from_its_last_checkpoint_exactly(tmp_path, data_root):
    cell = make_cell()
    reference = run_cell(cell, tmp_path / "reference", data_root=data_root, progress=False)
    script = CHILD.format(tests=str(TESTS), cell=cell.model_dump_json(), work=str(tmp_path / "work"),
                          root=str(data_root))
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                           timeout=300, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert not (tmp_path / "work" / "final.pt").exists()
    resumed = run_cell(cell, tmp_path / "work", data_root=data_root, progress=False)
    assert resumed["resumed_from_step"] == 20
    assert comparable(resumed) == comparable(reference)


def test_a_finished_run_resumes_to_the_same_result_without_training(tmp_path, data_root, monkeypatch):
    cell = make_cell(steps=12)
    first = run_cell(cell, tmp_path, data_root=data_root, progress=False)
    steps = []
    monkeypatch.setattr("suite.tasks.loop.STEP_HOOKS", [steps.append])
    again = run_cell(cell, tmp_path, data_root=data_root, progress=False)
    assert steps == [] and again["resumed_from_step"] == 12 and comparable(again) == comparable(first)


def test_a_checkpoint_of_another_cell_is_refused(tmp_path, data_root):
    run_cell(make_cell(steps=10), tmp_path, data_root=data_root, progress=False)
    with pytest.raises(SuiteError, match="belongs to cell"):
        run_cell(make_cell(steps=10, lr=1e-3), tmp_path, data_root=data_root, progress=False)


def _ddp_worker(rank, world, port, root, work, queue):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    tiny_models.install()
    import torch.distributed as dist

    result = run_cell(make_cell(steps=12), work, data_root=root, progress=False)
    queue.put((rank, result["metrics"], result["steps"]))
    dist.destroy_process_group()


def test_two_process_ddp_on_cpu_agrees_across_ranks(tmp_path, data_root):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_ddp_worker, args=(2, port, str(data_root), str(tmp_path), queue), nprocs=2,
                       start_method="spawn")
    results = sorted(queue.get() for _ in range(2))
    (_, m0, s0), (_, m1, s1) = results
    assert s0 == s1 == 12 and m0 == m1 and m0["top1"] > 0.3
    assert (tmp_path / "final.pt").is_file()


def test_real_pwlu_resumed_inside_its_statistics_phase_matches_an_uninterrupted_run(tmp_path, data_root, monkeypatch):
    """Stopped during PWLU's phase I: the phase and its running statistics must come back."""
    monkeypatch.undo()  # the registered cnn_small with the registered PWLU
    torch.set_num_threads(1)
    # phase I for 5 of the smoke recipe's 40 steps (the default 5 % would be 2)
    cell = Cell(activation="pwlu", act_params={"per_channel": True, "statistics": 0.125}, arch="cnn_small",
                task="classification", dataset="digits", recipe="smoke", recipe_overrides={"checkpoint_every": 10},
                seed=1)
    reference = run_cell(cell, tmp_path / "reference", data_root=data_root, progress=False)
    assert reference["statistics_phase"] == {"modules": 3, "steps": 5}
    monkeypatch.setattr("suite.tasks.loop.STEP_HOOKS", [stop_at(3)])
    with pytest.raises(StopRequested):
        run_cell(cell, tmp_path / "work", data_root=data_root, progress=False)
    monkeypatch.setattr("suite.tasks.loop.STEP_HOOKS", [])
    resumed = run_cell(cell, tmp_path / "work", data_root=data_root, progress=False)
    assert resumed["resumed_from_step"] == 3 and comparable(resumed) == comparable(reference)
    assert all(len(shape["channels"]) == 4 for shape in resumed["activation_shapes"].values())
