"""The SLURM executor against a real one-node cluster (slurm/local-cluster.sh start):
smoke cells arrive in the store with provenance; a preempted cell is requeued, resumes
from its checkpoint and ends with the metrics of an uninterrupted run. Profile merging
and the checkpoint callable are tested without a cluster."""
from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from suite.cell import Cell, Resources
from suite.errors import SuiteError
from suite.launch.attempt import PREEMPTIONS_FILE
from suite.launch.profile import load_profile, submitit_parameters
from suite.launch.slurm import CellJob, new_statuses, submit, wait
from suite.matrix import expand
from suite.store import Store, utc_now

requires_sinfo = pytest.mark.skipif(
    shutil.which("sinfo") is None,
    reason="SLURM is not installed (sinfo missing): sudo bash slurm/local-cluster.sh start",
)


@pytest.fixture
def cluster():
    out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip(), (
        f"sinfo fails ({out.stderr.strip()}): start the cluster with `sudo bash slurm/local-cluster.sh start`")


def _cli(argv) -> int:
    from suite.launch import cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _classifier_matrix(tmp_path: Path, overrides: dict) -> Path:
    arch = next(c.arch for c in expand("smoke") if c.task == "classification")
    path = tmp_path / "requeue.toml"
    path.write_text(
        'name = "requeue"\n[[block]]\nactivations = ["relu"]\n'
        f'archs = ["{arch}"]\ntask = "classification"\ndataset = "digits"\nrecipe = "smoke"\n'
        f"recipe_overrides = {{ {', '.join(f'{k} = {v}' for k, v in overrides.items())} }}\n"
        "resources = { cpus = 1, mem_gb = 2, time_min = 10 }\n")
    return path


# --- without a cluster ------------------------------------------------------------------

def test_profiles_merge_with_cell_resources():
    name, local = load_profile("local")
    assert name == "local" and local.partition == "debug"
    params = submitit_parameters(local, Resources(cpus=4, mem_gb=64, time_min=600), name="x")
    assert params["cpus_per_task"] == local.max_cpus_per_task
    assert params["mem_gb"] == local.max_mem_gb and params["timeout_min"] == local.max_time_min
    assert params["slurm_partition"] == "debug" and "gpus_per_node" not in params
    with pytest.raises(SuiteError, match="asks for 8 GPUs per node but the SLURM profile offers at most 0"):
        submitit_parameters(local, Resources(gpus=8), name="x")
    _, gpu = load_profile("gpu-cluster")
    params = submitit_parameters(gpu, Resources(gpus=8, nodes=2, cpus=8, mem_gb=256), name="x")
    assert params["gpus_per_node"] == 8 and params["tasks_per_node"] == 8 and params["nodes"] == 2
    assert params["slurm_account"] and params["slurm_setup"]


def test_bad_profiles_are_explained(tmp_path):
    with pytest.raises(SuiteError, match="unknown SLURM profile 'nope'; available: .*local"):
        load_profile("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text('partition = "debug"\ngpus = 3\n')
    with pytest.raises(SuiteError, match=r"field gpus: unknown field; accepted fields: .*max_gpus_per_node"):
        load_profile(str(bad))


def test_checkpoint_resubmits_the_same_cell_and_counts_the_preemption(tmp_path):
    cell = expand("smoke")[0]
    job = CellJob(str(tmp_path / "store"), token="t", device="cpu")
    data = cell.model_dump(mode="json")
    for expected in (1, 2):
        delayed = job.checkpoint(data)
        assert isinstance(delayed.function, CellJob) and delayed.args == (data,)
        assert delayed.function.store_root == job.store_root and delayed.function.token == "t"
        workdir = Store(tmp_path / "store").workdir(cell.id)
        assert (workdir / PREEMPTIONS_FILE).read_text().strip() == str(expected)
    pickle.loads(pickle.dumps(delayed))  # submitit pickles it for the requeued job


# --- on the one-node cluster ------------------------------------------------------------

@pytest.mark.slurm
@requires_sinfo
def test_smoke_cells_run_on_slurm_and_land_in_the_store(tmp_path, cluster):
    store = Store(tmp_path / "store")
    argv = ["run", "--matrix", "smoke", "--act", "relu", "--act", "gelu", "--task", "classification",
            "--executor", "slurm", "--profile", "local", "--store", str(store.root), "--device", "cpu"]
    assert _cli(argv + ["--wait"]) == 0
    cells = expand("smoke", activations=["relu", "gelu"], tasks=["classification"])
    for cell in cells:
        (rec,) = [r for r in store.load("train")[0] if r["key"] == cell.id]
        assert rec["status"] == "done", rec.get("error")
        assert rec["executor"]["kind"] == "slurm" and rec["executor"]["job_id"]
        assert rec["provenance"]["versions"]["torch"] and rec["provenance"]["hardware"]
        assert "top1" in rec["metrics"]
    assert not list((store.root / "claims").iterdir()), "jobs release their claims"
    assert _cli(argv) == 0  # rerun: nothing pending, nothing submitted
    assert len(store.load("train")[0]) == len(cells)


REQUEUE_OVERRIDES = {"steps": 200, "eval_every": 200, "checkpoint_every": 10}


@pytest.fixture(scope="module")
def requeue_cell(tmp_path_factory):
    """A classification cell long enough to be interrupted, and its uninterrupted record
    from a local run (one torch thread, like the SLURM task)."""
    folder = tmp_path_factory.mktemp("requeue")
    matrix = _classifier_matrix(folder, REQUEUE_OVERRIDES)
    (cell,) = expand(str(matrix))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "suite", "run", "--matrix", str(matrix),
                    "--store", str(folder / "local-store"), "--device", "cpu"],
                   check=True, env=env, capture_output=True)
    (reference,) = Store(folder / "local-store").load("train")[0]
    assert reference["resumed_from_step"] in (None, 0) and reference["preemptions"] == 0
    return cell, reference


@pytest.mark.slurm
@requires_sinfo
@pytest.mark.parametrize("how", ["preemption-signal", "scontrol-requeue"])
def test_interrupted_cell_resumes_from_its_checkpoint_with_the_same_metrics(tmp_path, cluster, requeue_cell, how):
    cell, reference = requeue_cell
    store = Store(tmp_path / "slurm-store")
    _, profile = load_profile("local")
    since = utc_now()
    (job_pair,), held = submit([cell], store, profile, matrix_name="requeue", device="cpu")
    assert not held
    _, job = job_pair
    workdir = store.root / "work" / cell.id
    deadline = time.time() + 150
    while not (workdir / "checkpoint.pt").exists():
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.2)
    if how == "preemption-signal":
        job._interrupt()  # SIGTERM + SIGUSR2, as SLURM does on preemption: save, then requeue
    else:
        subprocess.check_call(["scontrol", "requeue", job.job_id])  # killed without warning
    statuses = wait([job_pair], store, since=since, poll_s=1)
    assert statuses[cell.id] == "done"
    (rec,) = [r for r in store.load("train")[0] if r["key"] == cell.id]
    assert rec["preemptions"] >= 1
    assert rec["resumed_from_step"] and 0 < rec["resumed_from_step"] < REQUEUE_OVERRIDES["steps"]
    assert rec["steps"] == reference["steps"]
    assert rec["metrics"] == pytest.approx(reference["metrics"], rel=1e-6, abs=1e-9)
    assert not (store.root / "claims" / cell.id).exists()
