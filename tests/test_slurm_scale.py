"""SLURM at paper scale, on the one-node cluster (slurm/local-cluster.sh start): a job that
times out past max_requeues leaves a failed record that --retry-failed resumes from its
checkpoint; a cell asking for 2 tasks runs 2 DDP ranks (gloo on CPU)."""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from suite.cell import Resources
from suite.launch.profile import load_profile
from suite.launch.slurm import submit, wait
from suite.matrix import expand
from suite.store import Store, utc_now

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,  # a job start, a checkpoint, a signal, a requeue: a minute or two each
    pytest.mark.skipif(shutil.which("sinfo") is None,
                       reason="SLURM is not installed (sinfo missing): sudo bash slurm/local-cluster.sh start"),
]


@pytest.fixture
def cluster():
    out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip(), (
        f"sinfo fails ({out.stderr.strip()}): start the cluster with `sudo bash slurm/local-cluster.sh start`")


def _cell(tmp_path, overrides: str, resources: str):
    arch = next(c.arch for c in expand("smoke") if c.task == "classification")
    path = tmp_path / "m.toml"
    path.write_text(
        f'name = "scale"\n[[block]]\nactivations = ["relu"]\narchs = ["{arch}"]\ntask = "classification"\n'
        f'dataset = "digits"\nrecipe = "smoke"\nrecipe_overrides = {overrides}\nresources = {resources}\n')
    (cell,) = expand(str(path))
    return cell


def _record(store, cell):
    return [r for r in store.load("train")[0] if r["key"] == cell.id]


def test_a_job_timed_out_past_max_requeues_is_recorded_and_retry_failed_resumes_it(tmp_path, cluster):
    # time_min 10: submitit counts every signal as a time-out (it guarantees min(80%, T - 10 min))
    cell = _cell(tmp_path, "{ steps = 400, eval_every = 400, checkpoint_every = 10 }",
                 "{ cpus = 1, mem_gb = 2, time_min = 10 }")
    store = Store(tmp_path / "store")
    profile = load_profile("local")[1].model_copy(update={"max_requeues": 0})
    since = utc_now()
    ((_, job),), _ = submit([cell], store, profile, matrix_name="scale", device="cpu")
    workdir = store.root / "work" / cell.id
    deadline = time.time() + 180
    while not (workdir / "checkpoint.pt").exists():
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.2)
    job._interrupt(timeout=True)  # SIGUSR2 alone: SLURM's time-limit notice
    assert wait([(cell, job)], store, since=since, poll_s=1)[cell.id] == "failed"
    (failed,) = _record(store, cell)
    assert failed["error"]["type"] == "OutOfRequeues" and "--retry-failed" in failed["error"]["message"]
    assert not (store.root / "claims" / cell.id).exists()
    # --retry-failed: the plan reruns it, and it resumes from the kept checkpoint
    since = utc_now()
    (pair,), _ = submit([cell], store, load_profile("local")[1], matrix_name="scale", device="cpu")
    assert wait([pair], store, since=since, poll_s=1)[cell.id] == "done"
    done = _record(store, cell)[-1]
    assert done["status"] == "done" and done["resumed_from_step"] and done["steps"] == 400


def test_a_cell_asking_for_two_tasks_runs_two_ddp_ranks(tmp_path, cluster):
    cell = _cell(tmp_path, "{ steps = 6, eval_every = 6, checkpoint_every = 3 }",
                 "{ tasks = 2, cpus = 1, mem_gb = 2, time_min = 10 }")
    assert cell.resources == Resources(tasks=2, cpus=1, mem_gb=2, time_min=10)
    store = Store(tmp_path / "store")
    since = utc_now()
    (pair,), _ = submit([cell], store, load_profile("local")[1], matrix_name="scale", device="cpu")
    assert wait([pair], store, since=since, poll_s=1)[cell.id] == "done"
    (rec,) = _record(store, cell)  # rank 0 alone writes
    assert rec["executor"]["tasks"] == 2 and rec["steps"] == 6 and "top1" in rec["metrics"]
