"""The local executor: run cells on this machine, one at a time or N at a time.

``jobs=1`` runs each cell in this process (debuggers and monkeypatches work);
``jobs=N`` runs N cells at once in a pool of N spawned processes, each with
``cores // N`` torch threads so they do not oversubscribe the CPU. Either way every cell
is claimed first (``suite.launch.claims``) and rechecked in the store after the claim, so
two launches of one matrix at once split the cells between them instead of running any
twice. A rich progress bar counts cells; each finished cell prints its result line.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from suite.cell import Cell
from suite.launch import record as records
from suite.launch.attempt import run_and_record
from suite.launch.claims import Claims
from suite.launch.plan import FINISHED
from suite.store import Store

STYLE = {"done": "green", "diverged": "yellow", "failed": "red", "skipped": "dim"}


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_claimed(
    cell: Cell, store: Store, *, data_root: str | None, device: str | None, progress: bool,
    retry_failed: bool = False,
) -> dict[str, Any]:
    """Claim ``cell``, run it unless another launch holds or has finished it, release it.

    Returns ``{"cell_id", "status", "line"}``; status "skipped" when someone else has it.
    """
    claims = Claims(store.root / "claims")
    time_limit_s = cell.resources.time_min * 60
    if not claims.acquire(cell.id, time_limit_s=time_limit_s, executor="local"):
        holder = claims.holder(cell.id) or {}
        who = f"pid {holder.get('pid')} on {holder.get('host')}" if "pid" in holder else "another launch"
        return {"cell_id": cell.id, "status": "skipped", "line": f"{cell.label}: skipped (claimed by {who})"}
    try:
        # Another launch may have finished (or failed) the cell since we planned.
        status = store.status_of([cell.id])[cell.id]
        # (A failed cell reaches here only with --retry-failed, unless it failed meanwhile.)
        if status in FINISHED or (status == "failed" and not retry_failed):
            return {"cell_id": cell.id, "status": "skipped", "line": f"{cell.label}: skipped ({status} meanwhile)"}
        rec = run_and_record(
            cell, store, executor={"kind": "local", "pid": os.getpid()},
            data_root=data_root, device=device, progress=progress,
        )
        if rec is None:  # the task was asked to stop and saved a checkpoint
            return {"cell_id": cell.id, "status": "stopped", "line": f"{cell.label}: stopped (resumable)"}
        return {"cell_id": cell.id, "status": rec["status"], "line": records.summary(rec)}
    finally:
        claims.release(cell.id, only_if={"pid": os.getpid()})


def _init_worker(threads: int) -> None:
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


def _run_in_worker(cell_data: dict, store_root: str, data_root, device, retry_failed) -> dict:
    cell = Cell.model_validate(cell_data)
    return run_claimed(cell, Store(Path(store_root)), data_root=data_root, device=device,
                       progress=False, retry_failed=retry_failed)


@dataclass
class LocalResult:
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o["status"] == status for o in self.outcomes)


def run_local(
    cells: list[Cell], store: Store, *, jobs: int = 1, data_root: str | None = None,
    device: str | None = None, retry_failed: bool = False, console: Console | None = None,
) -> LocalResult:
    """Run ``cells`` (already filtered to the ones to run) and return what happened."""
    console = console or Console()
    result = LocalResult()
    if not cells:
        return result
    jobs = max(1, min(jobs, len(cells)))
    columns = (TextColumn("[bold]cells"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("", total=len(cells))

        def finished(outcome: dict[str, Any]) -> None:
            result.outcomes.append(outcome)
            style = STYLE.get(outcome["status"], "")
            bar.console.print(f"[{style}]{outcome['line']}[/]" if style else outcome["line"],
                              markup=bool(style), highlight=False)
            bar.update(task, advance=1, description=f"last: {outcome['line'][:80]}")

        if jobs == 1:
            for cell in cells:
                bar.update(task, description=f"running {cell.label}")
                finished(run_claimed(cell, store, data_root=data_root, device=device,
                                     progress=True, retry_failed=retry_failed))
            return result

        threads = max(1, cores() // jobs)
        ctx = multiprocessing.get_context("spawn")  # no forked torch/OpenMP state
        with cf.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker,
                                    initargs=(threads,)) as pool:
            futures = {
                pool.submit(_run_in_worker, cell.model_dump(mode="json"), str(store.root),
                            data_root, device, retry_failed): cell
                for cell in cells
            }
            try:
                for future in cf.as_completed(futures):
                    cell = futures[future]
                    try:
                        finished(future.result())
                    except Exception as exc:  # the worker process died (e.g. out of memory)
                        finished({"cell_id": cell.id, "status": "failed",
                                  "line": f"{cell.label}: worker died ({type(exc).__name__}: {exc})"})
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    return result
