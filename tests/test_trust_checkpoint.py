"""Checkpoints from a shared store: loading runs no code, a torn file is set aside and the
cell restarts, temp files of killed writers are cleared, the thread count is kept on
resume (issue 22, items 1, 10, 13, 16)."""
from __future__ import annotations

import logging

import pytest
import torch

import tiny_models
from suite.cell import Cell
from suite.tasks import StopRequested, request_checkpoint_and_stop, run_cell
from suite.tasks.checkpoint import CHECKPOINT_NAME


@pytest.fixture(autouse=True)
def tiny(monkeypatch):
    with tiny_models.single_threaded(monkeypatch):
        yield


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def make_cell(**overrides):
    overrides = {"checkpoint_every": 5, "steps": 12, **overrides}
    return Cell(activation="learnable", arch="tiny", task="classification", dataset="digits", recipe="smoke",
                recipe_overrides=overrides, seed=3)


def comparable(result):
    return result["metrics"], result["history"], result["steps"]


def stop_at(step):
    def hook(s):
        if s == step:
            request_checkpoint_and_stop()

    return hook


def stopped_run(cell, work, data_root, monkeypatch, step=7):
    monkeypatch.setattr("suite.tasks.loop.STEP_HOOKS", [stop_at(step)])
    with pytest.raises(StopRequested):
        run_cell(cell, work, data_root=data_root, progress=False)
    monkeypatch.setattr("suite.tasks.loop.STEP_HOOKS", [])
    return work / CHECKPOINT_NAME


def test_a_checkpoint_loads_with_weights_only_and_resumes_exactly(tmp_path, data_root, monkeypatch):
    cell = make_cell()
    reference = run_cell(cell, tmp_path / "reference", data_root=data_root, progress=False)
    path = stopped_run(cell, tmp_path / "work", data_root, monkeypatch)
    state = torch.load(path, weights_only=True)  # raised UnpicklingError (numpy RNG) before the fix
    assert state["step"] == 7 and state["torch_threads"] == 1
    resumed = run_cell(cell, tmp_path / "work", data_root=data_root, progress=False)
    assert resumed["resumed_from_step"] == 7
    assert comparable(resumed) == comparable(reference)


class Payload:
    """Unpickling this calls open(): what a hostile checkpoint would do with os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_checkpoint_that_would_run_code_is_refused_set_aside_and_the_cell_restarts(
        tmp_path, data_root, monkeypatch, caplog):
    cell = make_cell()
    reference = run_cell(cell, tmp_path / "reference", data_root=data_root, progress=False)
    path = stopped_run(cell, tmp_path / "work", data_root, monkeypatch)
    state = torch.load(path, weights_only=True)
    marker = tmp_path / "code-ran"
    state["evil"] = Payload(str(marker))
    torch.save(state, path)
    with caplog.at_level(logging.WARNING, logger="suite.tasks"):
        again = run_cell(cell, tmp_path / "work", data_root=data_root, progress=False)
    assert not marker.exists()  # the payload never ran
    assert again["resumed_from_step"] is None and comparable(again) == comparable(reference)
    aside = list((tmp_path / "work").glob(f"{CHECKPOINT_NAME}.set-aside-*"))
    assert len(aside) == 1
    assert "run code" in caplog.text and aside[0].name in caplog.text


def test_a_torn_checkpoint_is_set_aside_with_its_path_and_the_cell_restarts_from_scratch(
        tmp_path, data_root, monkeypatch, caplog):
    cell = make_cell()
    reference = run_cell(cell, tmp_path / "reference", data_root=data_root, progress=False)
    path = stopped_run(cell, tmp_path / "work", data_root, monkeypatch)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # torn (e.g. a copy cut short)
    with caplog.at_level(logging.WARNING, logger="suite.tasks"):
        again = run_cell(cell, tmp_path / "work", data_root=data_root, progress=False)  # raised before the fix
    assert comparable(again) == comparable(reference) and again["resumed_from_step"] is None
    assert "torn" in caplog.text and str(path) in caplog.text and "from scratch" in caplog.text
    assert len(list((tmp_path / "work").glob(f"{CHECKPOINT_NAME}.set-aside-*"))) == 1


def test_a_resumed_cell_uses_the_thread_count_it_was_checkpointed_with(tmp_path, data_root, monkeypatch):
    cell = make_cell()
    torch.set_num_threads(2)
    reference = run_cell(cell, tmp_path / "reference", data_root=data_root, progress=False)
    stopped_run(cell, tmp_path / "work", data_root, monkeypatch)
    torch.set_num_threads(1)  # resumed alone, on a machine that gives it another count
    resumed = run_cell(cell, tmp_path / "work", data_root=data_root, progress=False)
    assert torch.get_num_threads() == 2
    assert comparable(resumed) == comparable(reference)


def test_temp_files_of_killed_writes_are_removed_when_the_cell_runs_again(tmp_path):
    from suite.launch.attempt import run_and_record
    from suite.store import Store

    store = Store(tmp_path / "store")
    cell = make_cell()
    work = store.workdir(cell.id)
    records = store.root / "records" / "train" / cell.id
    records.mkdir(parents=True)
    leftovers = [work / f".{CHECKPOINT_NAME}.abc123.tmp", records / ".20260101T000000Z-done.json.x.tmp"]
    for path in leftovers:
        path.write_bytes(b"\0" * 1000)  # what a kill -9 mid-write leaves
    keep = work / "preemptions"
    keep.write_text("1\n")

    def fake_run_cell(cell, workdir, **kw):
        return {"status": "done", "metrics": {"top1": 0.5}, "history": [], "steps": 1}

    import suite.tasks

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(suite.tasks, "run_cell", fake_run_cell)
        run_and_record(cell, store, executor={"kind": "test"})
    assert not any(p.exists() for p in leftovers)
    assert len(list(records.glob("*.json"))) == 1
