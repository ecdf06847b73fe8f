"""The local executor with the real tasks on tiny smoke cells: records, skip on rerun,
failed cells and --retry-failed, two concurrent launches, resume after a crash; and the
claim files that keep concurrent launches apart."""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from suite.launch.claims import Claims
from suite.matrix import expand
from suite.store import Store

# Smoke cells cut to a few steps so each trains in seconds on one core.
FAST = {"steps": 6, "eval_every": 6, "checkpoint_every": 3}
# long enough that the SIGKILL below lands mid-run even on an idle machine
SLOW = {"steps": 600, "eval_every": 600, "checkpoint_every": 4}


def _matrix(tmp_path: Path, acts, *, overrides=FAST, act_params="", name="m") -> Path:
    cell = next(c for c in expand("smoke") if c.task == "classification")
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\n'
        "[[block]]\n"
        f"activations = {json.dumps(acts)}\n"
        f'archs = ["{cell.arch}"]\n'
        'task = "classification"\ndataset = "digits"\nrecipe = "smoke"\n'
        f"recipe_overrides = {{ {', '.join(f'{k} = {v}' for k, v in overrides.items())} }}\n"
        'resources = { cpus = 1, mem_gb = 2, time_min = 5 }\n'
        + act_params
    )
    return path


def _cli(argv) -> int:
    from suite.launch import cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _records(store: Store, key: str) -> list[dict]:
    return [r for r in store.load("train")[0] if r["key"] == key]


def _spawn(argv, log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "suite", "run", *argv], stdout=log.open("w"),
                            stderr=subprocess.STDOUT, env=env)


def test_local_run_writes_records_then_rerun_skips(tmp_path, capsys):
    store = Store(tmp_path / "store")
    matrix = _matrix(tmp_path, ["relu", "gelu", "silu"])
    argv = ["run", "--matrix", str(matrix), "--store", str(store.root), "--device", "cpu"]
    assert _cli(argv + ["--jobs", "2"]) == 0  # two worker processes
    cells = expand(str(matrix))
    for cell in cells:
        (rec,) = _records(store, cell.id)
        assert rec["status"] == "done" and rec["cell_id"] == cell.id
        assert rec["cell"]["activation"] == cell.activation
        assert set(rec["metrics"]) >= {"top1", "loss"}
        assert rec["preemptions"] == 0 and rec["executor"]["kind"] == "local"
        assert rec["executor"]["pid"] != os.getpid()
        assert rec["provenance"]["versions"]["torch"]
    assert not list((store.root / "claims").iterdir()), "claims are released"
    capsys.readouterr()
    assert _cli(argv) == 0
    assert "nothing to run" in capsys.readouterr().out
    assert all(len(_records(store, c.id)) == 1 for c in cells)


def test_failed_cell_is_recorded_skipped_then_retried(tmp_path, capsys):
    store = Store(tmp_path / "store")
    # A fault only the run finds (a bad activation parameter is refused at load now).
    matrix = _matrix(tmp_path, ["relu"], overrides={**FAST, "batch_size": 1000000})
    (cell,) = expand(str(matrix))
    assert _cli(["run", "--matrix", str(matrix), "--store", str(store.root)]) == 1
    (rec,) = _records(store, cell.id)
    assert rec["status"] == "failed"
    assert "batch size 1000000" in rec["error"]["message"]
    assert "Traceback" in rec["error"]["traceback"]
    capsys.readouterr()
    assert _cli(["run", "--matrix", str(matrix), "--store", str(store.root)]) == 0
    assert "rerun them with --retry-failed" in capsys.readouterr().out
    assert len(_records(store, cell.id)) == 1
    assert _cli(["run", "--matrix", str(matrix), "--store", str(store.root), "--retry-failed"]) == 1
    assert [r["status"] for r in _records(store, cell.id)] == ["failed", "failed"]


def test_two_concurrent_launches_run_each_cell_once(tmp_path):
    store = tmp_path / "store"
    matrix = _matrix(tmp_path, ["relu", "gelu", "silu", "elu"])
    argv = ["--matrix", str(matrix), "--store", str(store), "--device", "cpu"]
    procs = [_spawn(argv, tmp_path / f"launch{i}.log") for i in range(2)]
    for proc in procs:
        assert proc.wait(timeout=170) == 0, (tmp_path / "launch0.log").read_text()
    logs = [(tmp_path / f"launch{i}.log").read_text() for i in range(2)]
    records, problems = Store(store).load("train")
    assert not problems
    keys = [r["key"] for r in records]
    assert sorted(keys) == sorted(c.id for c in expand(str(matrix))), logs
    assert all(r["status"] == "done" for r in records)


def test_crashed_cell_resumes_from_its_checkpoint(tmp_path):
    store = Store(tmp_path / "store")
    matrix = _matrix(tmp_path, ["relu"], overrides=SLOW)
    (cell,) = expand(str(matrix))
    workdir = store.root / "work" / cell.id
    proc = _spawn(["--matrix", str(matrix), "--store", str(store.root), "--device", "cpu"],
                  tmp_path / "crash.log")
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.suffix == ".pt" for p in workdir.glob("**/*")):
        assert proc.poll() is None, (tmp_path / "crash.log").read_text()
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)  # a crash: no record, a stale claim left behind
    proc.wait()
    assert not _records(store, cell.id)
    assert (store.root / "claims" / cell.id).exists()
    assert _cli(["run", "--matrix", str(matrix), "--store", str(store.root), "--device", "cpu"]) == 0
    (rec,) = _records(store, cell.id)
    assert rec["status"] == "done"
    assert rec["resumed_from_step"] and rec["resumed_from_step"] > 0
    assert rec["steps"] == SLOW["steps"]


def test_claims_are_exclusive_and_stale_ones_are_broken(tmp_path):
    claims = Claims(tmp_path / "claims")
    assert claims.acquire("a", time_limit_s=60)
    assert not claims.acquire("a", time_limit_s=60), "held by this live process"
    claims.release("a")
    assert claims.acquire("a", time_limit_s=60)

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claims.path("b").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "time": time.time()}))
    assert claims.is_stale(claims.holder("b"))
    assert claims.acquire("b", time_limit_s=60)
    assert claims.holder("b")["pid"] == os.getpid()

    other = {"pid": 1, "host": "elsewhere", "time": time.time(), "time_limit_s": 60}
    claims.path("c").write_text(json.dumps(other))
    assert not claims.acquire("c", time_limit_s=60), "a fresh claim of another host holds"
    claims.path("c").write_text(json.dumps({**other, "time": time.time() - 3600}))
    assert claims.acquire("c", time_limit_s=60), "older than its time limit plus grace"

    claims.release("a", only_if={"pid": -1})
    assert claims.holder("a") is not None, "release only_if a different holder keeps the claim"
