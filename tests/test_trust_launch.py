"""Launch faults (issue 22, items 9, 10, 14, 15, 18): checks before anything starts, a
worker killed from outside stays with its cell, signals are forwarded and reported
truthfully, a cell runs with its own fixed thread count, an unreadable record is warned of."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import suite.cli
from suite.launch.local import run_claimed
from suite.matrix import expand
from suite.store import Store
from test_launch_local import _matrix

# Long enough that signals land mid-run; checkpoints often so there is one to find.
SLOW = {"steps": 3000, "eval_every": 3000, "checkpoint_every": 2}


def _spawn(argv, log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, "-m", "suite", "run", *argv], stdout=log.open("w"),
                            stderr=subprocess.STDOUT, env=env)


def _wait_for(predicate, proc, log: Path, timeout=180.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        assert proc.poll() is None, log.read_text()
        time.sleep(0.2)
    raise AssertionError(f"timed out; log:\n{log.read_text()}")


def _claim_pid(store: Path, cell_id: str) -> int | None:
    try:
        return json.loads((store / "claims" / cell_id).read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of a finished child counts as gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --------------------------------------------------------------- before anything starts

def test_device_cuda_without_a_gpu_is_one_error_before_any_cell(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    matrix = _matrix(tmp_path, ["relu", "gelu"])
    code = suite.cli.main(["run", "--matrix", str(matrix), "--store", str(tmp_path / "s"), "--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --device cuda") and err.count("\n") == 1
    assert not (tmp_path / "s" / "records").exists()  # before the fix: one failed record per cell


def test_a_missing_data_set_is_one_error_before_any_cell(tmp_path, capsys):
    path = tmp_path / "m.toml"
    path.write_text('name = "m"\n[[block]]\nactivations = ["relu", "gelu"]\narchs = ["cnn_small"]\n'
                    'task = "classification"\ndataset = "imagenet"\nrecipe = "smoke"\n')
    code = suite.cli.main(["run", "--matrix", str(path), "--store", str(tmp_path / "s"),
                           "--data-root", str(tmp_path / "empty"), "--jobs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "data set 'imagenet' (2 cells) not found" in err and err.count("\n") == 1
    assert not (tmp_path / "s" / "records").exists() and not (tmp_path / "s" / "claims").exists()


def test_rerunning_a_cell_whose_only_record_is_unreadable_warns_with_its_path(tmp_path, capsys):
    matrix = _matrix(tmp_path, ["relu"])
    (cell,) = expand(str(matrix))
    folder = tmp_path / "s" / "records" / "train" / cell.id
    folder.mkdir(parents=True)
    torn = folder / "20260101T000000.000000Z-done.json"
    torn.write_text('{"schema": "suite.record/1", "status": "do')
    assert suite.cli.main(["run", "--matrix", str(matrix), "--store", str(tmp_path / "s"), "--dry-run"]) == 0
    out = capsys.readouterr().out.replace("\n", "")
    assert "warning: relu/" in out and "runs again" in out and torn.name in out


# --------------------------------------------------------------- thread count

def test_a_cell_runs_with_its_own_thread_count_whatever_the_launch_had(tmp_path, monkeypatch):
    import suite.tasks

    seen = []

    def fake_run_cell(cell, workdir, **kw):
        seen.append(torch.get_num_threads())
        return {"status": "done", "metrics": {"top1": 0.5}, "history": [], "steps": 1}

    monkeypatch.setattr(suite.tasks, "run_cell", fake_run_cell)
    (cell,) = expand(str(_matrix(tmp_path, ["relu"])))  # resources.cpus = 1
    store = Store(tmp_path / "s")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run_claimed(cell, store, data_root=None, device="cpu", progress=False)
    finally:
        torch.set_num_threads(before)
    (rec,) = store.load("train")[0]
    assert seen == [1] and rec["provenance"]["hardware"]["torch_threads"] == 1


# --------------------------------------------------------------- workers and signals

@pytest.mark.slow
def test_a_worker_killed_from_outside_fails_only_its_cell_with_the_cause_recorded(tmp_path):
    store = tmp_path / "s"
    slow = expand(str(_matrix(tmp_path, ["relu"], overrides=SLOW, name="slow")))[0]
    fast = _matrix(tmp_path, ["gelu", "silu"], name="fast")
    both = tmp_path / "both.toml"
    both.write_text(Path(fast).read_text() + "\n" + Path(tmp_path / "slow.toml").read_text()
                    .split("\n", 1)[1])  # the fast block, then the slow block
    log = tmp_path / "run.log"
    proc = _spawn(["--matrix", str(both), "--store", str(store), "--jobs", "2", "--device", "cpu"], log)
    work = store / "work" / slow.id
    _wait_for(lambda: (work / "checkpoint.pt").exists() and _claim_pid(store, slow.id), proc, log)
    os.kill(_claim_pid(store, slow.id), signal.SIGKILL)  # as the OOM killer would
    assert proc.wait(timeout=240) == 1, log.read_text()  # one failed cell; before the fix: all aborted
    records, problems = Store(store).load("train")
    assert not problems
    status = {r["key"]: r for r in records}
    assert status[slow.id]["status"] == "failed"
    assert "SIGKILL" in status[slow.id]["error"]["message"]
    assert sorted(r["status"] for k, r in status.items() if k != slow.id) == ["done", "done"]
    assert not (store / "claims" / slow.id).exists()


@pytest.mark.slow
@pytest.mark.parametrize("jobs, sig", [(2, signal.SIGTERM), (1, signal.SIGINT)])
def test_a_signal_to_the_launch_checkpoints_the_running_cells_and_says_so(tmp_path, jobs, sig):
    store = tmp_path / "s"
    matrix = _matrix(tmp_path, ["relu", "gelu", "silu"][: jobs + 1], overrides=SLOW)
    cells = expand(str(matrix))
    running = cells[:jobs]
    log = tmp_path / "run.log"
    proc = _spawn(["--matrix", str(matrix), "--store", str(store), "--jobs", str(jobs), "--device", "cpu"], log)
    _wait_for(lambda: all((store / "work" / c.id / "checkpoint.pt").exists() for c in running), proc, log)
    pids = [_claim_pid(store, c.id) for c in running]
    proc.send_signal(sig)
    code = proc.wait(timeout=120)
    text = log.read_text()
    assert code == (143 if sig == signal.SIGTERM else 130), text
    name = signal.Signals(sig).name
    assert f"interrupted by {name}: 0 done, 0 failed, {jobs} stopped, 1 not started" in text, text
    assert not any(_alive(pid) for pid in pids if pid)  # no orphaned worker
    assert not Store(store).load("train")[0]  # stopped cells are resumable, not failed
    for cell in running:
        step = torch.load(store / "work" / cell.id / "checkpoint.pt", weights_only=True)["step"]
        assert 0 < step < SLOW["steps"]
    assert not any((store / "claims").iterdir())


@pytest.mark.slow
def test_a_signal_while_workers_still_start_stops_their_cells_without_failing_them(tmp_path):
    """A worker still importing torch has no handler yet, so the forwarded signal ends it;
    before the fix its cell got a failed record, which a plain rerun then skipped."""
    store = tmp_path / "s"
    matrix = _matrix(tmp_path, ["relu", "gelu", "silu"], overrides=SLOW)
    log = tmp_path / "run.log"
    proc = _spawn(["--matrix", str(matrix), "--store", str(store), "--jobs", "2", "--device", "cpu"], log)
    _wait_for(lambda: "running 3 of 3 cells" in log.read_text(), proc, log)
    proc.send_signal(signal.SIGTERM)  # the workers are being spawned now
    assert proc.wait(timeout=120) == 143, log.read_text()
    text = log.read_text()
    assert "0 failed" in text and "failed (worker" not in text, text
    assert not [r for r in Store(store).load("train")[0] if r["status"] == "failed"]
    assert not any((store / "claims").iterdir()) if (store / "claims").exists() else True
