"""The SLURM executor: one submitit job array per launch, requeued on preemption.

Each array task runs ``CellJob(cell)``, a ``submitit.helpers.Checkpointable``. When SLURM
warns of preemption or of the time limit (SIGUSR2, submitit's ``--signal``), the task
saves a checkpoint at its next step boundary (``suite.tasks.request_checkpoint_and_stop``)
and stops; submitit then calls ``checkpoint()``, which counts the preemption in the
cell's workdir and returns a ``DelayedSubmission`` of a fresh ``CellJob`` with the same
cell, and requeues the job. When SLURM kills without warning (SIGTERM: ``scontrol
requeue``, preemption with a grace time, scancel) the task likewise saves and stops, and
SLURM requeues or ends the job. The workdir is derived from the store and the cell id on
every start, never baked into the submission as a checkpoint path, so a requeued job
resumes from the newest checkpoint there.

Multi-GPU cells run one task per GPU; each gets the DDP environment (RANK, LOCAL_RANK,
WORLD_SIZE, MASTER_ADDR, MASTER_PORT) from submitit before the task starts; rank 0 alone
writes the record.
"""
from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import submitit

from suite.cell import Cell, Resources
from suite.errors import SuiteError
from suite.launch import record as records
from suite.launch.attempt import count_preemption, preemptions, run_and_record
from suite.launch.claims import Claims
from suite.launch.plan import FINISHED
from suite.launch.profile import Profile, submitit_parameters
from suite.safe_text import line_problem, name_problem
from suite.store import Store


class CellJob(submitit.helpers.Checkpointable):
    """The callable SLURM runs for one cell (picklable: only plain values inside)."""

    def __init__(self, store_root: str, *, token: str, data_root: str | None = None,
                 device: str | None = None, max_requeues: int | None = None):
        self.store_root = str(store_root)
        self.max_requeues = max_requeues  # the profile's, for the out-of-requeues record
        self.token = token  # the launch's claim token: we release only our own claims
        self.data_root = data_root
        self.device = device
        # The user's activation plugins of the launching process, imported in the job
        # whatever environment the cluster gives it.
        self.plugins = os.environ.get("SUITE_PLUGINS", "")

    def workdir(self, cell: Cell) -> Path:
        return Store(Path(self.store_root)).workdir(cell.id)

    def __call__(self, cell_data: dict[str, Any]) -> str:
        cell = Cell.model_validate(cell_data)
        if getattr(self, "plugins", ""):
            from suite import plugins

            os.environ[plugins.ENV_VAR] = self.plugins  # and for processes the task starts
            plugins.load_environment()
        env = submitit.JobEnvironment()
        if env.num_tasks > 1:
            # RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT for torch.distributed;
            # every task keeps all the node's GPUs and picks cuda:LOCAL_RANK.
            submitit.helpers.TorchDistributedEnvironment().export(
                set_cuda_visible_devices=False, overwrite=True)
        threads = int(os.environ.get("SLURM_CPUS_PER_TASK", "1"))
        import torch

        torch.set_num_threads(max(1, threads))
        store = Store(Path(self.store_root))
        claims = Claims(store.root / "claims")
        rank0 = env.global_rank == 0
        if rank0 and store.status_of([cell.id])[cell.id] in FINISHED:
            claims.release(cell.id, only_if={"token": self.token})
            return f"{cell.label}: skipped (finished by another launch)"
        self._stop_on_preemption()
        executor = {"kind": "slurm", "job_id": env.job_id, "nodes": env.num_nodes,
                    "tasks": env.num_tasks, "restarts": int(os.environ.get("SLURM_RESTART_COUNT", 0))}
        rec = run_and_record(cell, store, data_root=self.data_root, device=self.device, progress=False,
                             write=rank0, executor=executor)
        if rec is None:
            self._after_stop(cell, store, executor, write=rank0)  # never returns: requeued, or waiting for SIGKILL
        if rank0:
            claims.release(cell.id, only_if={"token": self.token})
        line = records.summary(rec)
        print(line, flush=True)
        return line

    def _stop_on_preemption(self) -> None:
        """Put our handlers before submitit's: on SIGUSR2 (preemption or time-out notice)
        or SIGTERM (SLURM is about to kill the job: `scontrol requeue`, preemption without
        notice, scancel) the task saves a checkpoint at its next step boundary and raises
        StopRequested; ``_after_stop`` then decides whether we requeue ourselves."""
        from suite import tasks

        self._signals: list[int] = []
        usr = submitit.JobEnvironment._usr_sig()
        self._submitit_handler = signal.getsignal(usr)
        tasks.clear_stop_request()
        if not callable(self._submitit_handler):
            return  # not under submitit (a test calling the job directly)

        def on_signal(signum, frame):
            self._signals.append(signum)
            tasks.request_checkpoint_and_stop()

        signal.signal(usr, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    def _after_stop(self, cell: Cell, store: Store, executor: dict[str, Any], *, write: bool = True,
                    wait_for_notice_s: float = 120.0) -> None:
        """The task saved and stopped. After SIGUSR2, submitit's handler calls
        ``checkpoint()``, requeues the job and exits, or, past the profile's
        ``max_requeues`` time-outs, ends the job: we first record that as a failed attempt
        (``OutOfRequeues``), so the cell does not stay "pending" with no job left and
        ``--retry-failed`` resumes it from its checkpoint. After SIGTERM alone, SLURM itself
        requeues or cancels the job and will SIGKILL us: we wait for that (or for a
        SIGUSR2 that may follow), the checkpoint being safe on disk either way."""
        usr = submitit.JobEnvironment._usr_sig()
        deadline = time.time() + wait_for_notice_s
        while usr not in self._signals and time.time() < deadline:
            time.sleep(0.2)
        if usr in self._signals:
            if write and out_of_requeues(self._submitit_handler):
                self._record_out_of_requeues(cell, store, executor)
            self._submitit_handler(usr, None)  # exits (requeued, or the job ends)
        raise SystemExit(143)  # 128 + SIGTERM: stopped, resumable from the checkpoint

    def _record_out_of_requeues(self, cell: Cell, store: Store, executor: dict[str, Any]) -> None:
        workdir = self.workdir(cell)
        error = OutOfRequeues(
            f"the job timed out once more after the profile's max_requeues ({self.max_requeues}) requeues; its "
            f"checkpoint is kept in {workdir}: rerun with --retry-failed to resume it, or raise the cell's "
            "time_min or the profile's max_requeues")
        rec = records.from_error(cell, error, preemptions=preemptions(workdir) + 1, executor=executor)
        store.write("train", cell.id, rec)
        Claims(store.root / "claims").release(cell.id, only_if={"token": self.token})
        print(records.summary(rec), flush=True)

    def checkpoint(self, cell_data: dict[str, Any]) -> submitit.helpers.DelayedSubmission:
        """Called by submitit on preemption/time-out before it requeues the job."""
        cell = Cell.model_validate(cell_data)
        count_preemption(self.workdir(cell))
        fresh = CellJob(self.store_root, token=self.token, data_root=self.data_root, device=self.device,
                        max_requeues=self.max_requeues)
        return submitit.helpers.DelayedSubmission(fresh, cell_data)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_submitit_handler", None)  # a bound method of submitit's handler
        state.pop("_signals", None)
        return state


class OutOfRequeues(Exception):
    """A cell's job timed out more often than its profile lets it be requeued."""


def out_of_requeues(handler) -> bool:
    """Whether submitit's bound ``checkpoint_and_try_requeue`` (``handler``) is about to end
    the job rather than requeue it: the signal is a time-out and none is left to requeue.

    Mirrors submitit's own test (``_timeout_countdown - has_timed_out() < 0``), read from
    the handler's submission; a preemption (not a time-out) never counts.
    """
    owner = getattr(handler, "__self__", None)
    delayed = getattr(owner, "_delayed", None)
    countdown = getattr(delayed, "_timeout_countdown", None)
    if countdown is None or not owner.has_timed_out():
        return False
    return countdown - 1 < 0


def executor_for(store: Store, profile: Profile, resources: Resources, *, name: str):
    params = submitit_parameters(profile, resources, name=name)
    max_requeues = params.pop("slurm_max_num_timeout")
    executor = submitit.AutoExecutor(folder=store.root / "slurm-logs" / "%j", cluster="slurm",
                                     slurm_max_num_timeout=max_requeues)
    executor.update_parameters(**params)
    return executor


def submit(cells: list[Cell], store: Store, profile: Profile, *, matrix_name: str,
           data_root: str | None = None, device: str | None = None) -> tuple[list, list[Cell]]:
    """Claim the cells and submit them as job arrays (one per distinct resource set).

    Returns (jobs, cells skipped because another launch holds them).
    """
    import shutil

    if shutil.which("sbatch") is None:
        raise SuiteError("--executor slurm is not accepted on this machine: SLURM's sbatch is not on the "
                         "PATH; expected a SLURM login node (or run with --executor local).")
    store = Store(store.root.resolve())  # the jobs may start in another directory
    # Both reach the batch script (job name, log paths): refuse what would break its lines.
    if name_problem(matrix_name):
        raise SuiteError(f"matrix name {matrix_name!r} is not accepted for SLURM; "
                         f"{name_problem(matrix_name)}.")
    if line_problem(str(store.root)):
        raise SuiteError(f"store path {str(store.root)!r} is not accepted for SLURM; "
                         f"{line_problem(str(store.root))}.")
    for resources in {c.resources for c in cells}:
        submitit_parameters(profile, resources, name="check")  # refuse before claiming
    claims = Claims(store.root / "claims")
    token = uuid.uuid4().hex
    groups: dict[Resources, list[Cell]] = {}
    held: list[Cell] = []
    for cell in cells:
        limit = cell.resources.time_min * 60 * (1 + profile.max_requeues)
        if claims.acquire(cell.id, time_limit_s=limit, token=token, executor="slurm"):
            groups.setdefault(cell.resources, []).append(cell)
        else:
            held.append(cell)
    callable_ = CellJob(str(store.root), token=token, data_root=data_root, device=device,
                        max_requeues=profile.max_requeues)
    jobs = []
    for resources, group in groups.items():
        try:
            executor = executor_for(store, profile, resources, name=f"suite-{matrix_name}")
            batch = executor.map_array(callable_, [c.model_dump(mode="json") for c in group])
        except BaseException:
            for cell in group:
                claims.release(cell.id, only_if={"token": token})
            raise
        for cell, job in zip(group, batch):
            claims.update(cell.id, only_if={"token": token}, job_id=job.job_id)
            jobs.append((cell, job))
    return jobs, held


def squeue_ids(job_ids: list[str]) -> set[str] | None:
    """The ids of ``job_ids`` still queued or running (None if squeue fails)."""
    import subprocess

    if not job_ids:
        return set()
    arrays = sorted({j.split("_")[0] for j in job_ids})
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(arrays)],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return set() if "Invalid job id" in out.stderr else None
    return set(out.stdout.split())


def new_statuses(store: Store, cell_ids, since: str) -> dict[str, str]:
    """Status of each cell's newest record written after ``since`` (else "pending")."""
    latest, _ = store.latest("train")
    out = {}
    for cell_id in cell_ids:
        rec = latest.get(cell_id)
        out[cell_id] = rec["status"] if rec and rec.get("written_at", "") > since else "pending"
    return out


def wait(jobs: list, store: Store, *, since: str, poll_s: float = 5.0, console=None,
         lost_after_s: float = 30.0) -> dict[str, str]:
    """Wait until every submitted cell has a record (or its job left the queue without one).

    Returns {cell_id: status}, status "lost" for a job that ended without a record (killed
    by SLURM for memory, say: see its log in <store>/slurm-logs/<job id>/).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    pending = {cell.id: (cell, job) for cell, job in jobs}
    started = time.time()
    result: dict[str, str] = {}
    gone_since: dict[str, float] = {}
    with Progress(TextColumn("[bold]slurm cells"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.description}"), console=console) as bar:
        task = bar.add_task("", total=len(pending))
        while pending:
            statuses = new_statuses(store, pending, since)
            queued = squeue_ids([job.job_id for _, job in pending.values()])
            for cell_id, (cell, job) in list(pending.items()):
                status = statuses[cell_id]
                if status == "pending" and queued is not None and job.job_id not in queued:
                    gone_since.setdefault(cell_id, time.time())
                    if time.time() - gone_since[cell_id] > lost_after_s:
                        status = "lost"
                if status != "pending":
                    result[cell_id] = status
                    del pending[cell_id]
                    bar.console.print(f"{cell.label}: {status} (job {job.job_id})", highlight=False)
                    bar.update(task, advance=1)
            if pending:
                bar.update(task, description=f"{len(pending)} waiting, {time.time() - started:.0f} s")
                time.sleep(poll_s)
    return result
