"""The local executor: run cells on this machine, one at a time or N at a time.

``jobs=1`` runs each cell in this process (debuggers and monkeypatches work);
``jobs=N`` runs N cells at once in N spawned worker processes. Each cell runs with a
fixed torch thread count, its ``resources.cpus`` (at most the machine's cores), whatever
``--jobs`` is, and its checkpoints keep that count: a cell resumed alone continues exactly
as it would have two at a time. Every cell is claimed first (``suite.launch.claims``) and
rechecked in the store after the claim, so two launches of one matrix at once split the
cells between them instead of running any twice.

Faults stay with their cell: a worker killed from outside (the OOM killer, kill -9) gets a
failed record that says how it died, and the other cells go on. SIGINT or SIGTERM to the
launch is forwarded to the running cells, which save a checkpoint at their next step and
stop; no new cell starts; the summary says which cells finished, which stopped
(resumable) and which never started. A second signal kills the workers at once.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
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

STYLE = {"done": "green", "diverged": "yellow", "failed": "red", "skipped": "dim", "stopped": "yellow"}
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cell_threads(cell: Cell) -> int:
    """The torch thread count a cell runs with: what it asks for, at most the cores here."""
    return max(1, min(cell.resources.cpus, cores()))


def run_claimed(
    cell: Cell, store: Store, *, data_root: str | None, device: str | None, progress: bool,
    retry_failed: bool = False,
) -> dict[str, Any]:
    """Claim ``cell``, run it unless another launch holds or has finished it, release it.

    Returns ``{"cell_id", "status", "line"}``; status "skipped" when someone else has it,
    "stopped" when it was asked to stop and saved a checkpoint.
    """
    import torch

    claims = Claims(store.root / "claims")
    time_limit_s = cell.resources.time_min * 60
    if not claims.acquire(cell.id, time_limit_s=time_limit_s, executor="local"):
        holder = claims.holder(cell.id) or {}
        who = f"pid {holder.get('pid')} on {holder.get('host')}" if "pid" in holder else "another launch"
        return {"cell_id": cell.id, "status": "skipped", "line": f"{cell.label}: skipped (claimed by {who})"}
    threads = torch.get_num_threads()
    try:
        # Another launch may have finished (or failed) the cell since we planned.
        status = store.status_of([cell.id])[cell.id]
        # (A failed cell reaches here only with --retry-failed, unless it failed meanwhile.)
        if status in FINISHED or (status == "failed" and not retry_failed):
            return {"cell_id": cell.id, "status": "skipped",
                    "line": f"{cell.label}: skipped ({status} meanwhile)"}
        torch.set_num_threads(cell_threads(cell))  # a resumed run may set its checkpoint's count
        rec = run_and_record(
            cell, store, executor={"kind": "local", "pid": os.getpid()},
            data_root=data_root, device=device, progress=progress,
        )
        if rec is None:  # the task was asked to stop and saved a checkpoint
            return {"cell_id": cell.id, "status": "stopped",
                    "line": f"{cell.label}: stopped at a checkpoint (resumable)"}
        return {"cell_id": cell.id, "status": rec["status"], "line": records.summary(rec)}
    finally:
        torch.set_num_threads(threads)
        claims.release(cell.id, only_if={"pid": os.getpid()})


def _worker(conn, store_root: str, data_root, device, retry_failed) -> None:
    """A spawned process that runs the cells it is sent, one at a time, until sent None.

    Kept alive across cells (spawning and importing torch costs seconds per process); if
    it dies, only the cell it held is lost, and the launch starts a fresh worker."""
    from suite import tasks

    os.environ["OMP_NUM_THREADS"] = "1"  # torch's own count is set per cell in run_claimed

    def on_signal(signum, frame):  # forwarded by the launch: save at the next step, stop
        tasks.request_checkpoint_and_stop()

    for sig in SIGNALS:
        signal.signal(sig, on_signal)
    store = Store(Path(store_root))
    while (cell_data := conn.recv()) is not None:
        cell = Cell.model_validate(cell_data)
        try:
            outcome = run_claimed(cell, store, data_root=data_root, device=device, progress=False,
                                  retry_failed=retry_failed)
        except Exception as exc:  # noqa: BLE001 - e.g. the store became unwritable: report, don't hide
            outcome = {"cell_id": cell.id, "status": "failed",
                       "line": f"{cell.label}: failed ({type(exc).__name__}: {exc})"}
        conn.send(outcome)
    conn.close()


def _death(cell: Cell, exitcode: int | None, store: Store, pid: int) -> dict[str, Any]:
    """Record a worker that died without reporting (OOM killer, kill -9) as a failed attempt."""
    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
        if -exitcode == signal.SIGKILL:
            how += " (out of memory? see dmesg)"
    else:
        how = f"exited with status {exitcode} without a result"
    exc = WorkerDied(f"the worker process running this cell was {how}")
    try:
        store.write("train", cell.id, records.from_error(cell, exc, executor={"kind": "local", "pid": pid}))
    finally:
        Claims(store.root / "claims").release(cell.id, only_if={"pid": pid})
    return {"cell_id": cell.id, "status": "failed", "line": f"{cell.label}: failed (worker {how})"}


def _stopped_before_reporting(cell: Cell, store: Store, pid: int, signum: int) -> dict[str, Any]:
    """A worker the launch's own stop ended before it answered: a worker still starting (its
    handler not yet installed) dies of the forwarded signal, and a second signal kills
    workers. The user stopped it; it did not fail, so no failed record (which a plain rerun
    would skip): the rerun resumes it from its last checkpoint, or starts it."""
    Claims(store.root / "claims").release(cell.id, only_if={"pid": pid})
    name = signal.Signals(signum).name
    return {"cell_id": cell.id, "status": "stopped",
            "line": f"{cell.label}: stopped by {name} before its worker answered (resumes from its last checkpoint, if any)"}


class WorkerDied(RuntimeError):
    """A local worker process ended without sending its cell's outcome."""


@dataclass
class LocalResult:
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    interrupted_by: str | None = None  # "SIGINT" / "SIGTERM" when the launch was told to stop
    not_started: int = 0

    def count(self, status: str) -> int:
        return sum(o["status"] == status for o in self.outcomes)


class _Stop:
    """SIGINT/SIGTERM to the launch: remember it, pass it on; a second one kills the workers."""

    def __init__(self, workers: dict):
        self.workers = workers  # sentinel -> _Worker
        self.signum: int | None = None
        self.saved: dict[int, Any] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self.saved[sig] = signal.signal(sig, self.on_signal)
        return self

    def __exit__(self, *exc):
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)

    def on_signal(self, signum, frame):
        again = self.signum is not None
        self.signum = signum
        if not self.workers:  # in-process cell (jobs=1): ask the loop itself
            from suite import tasks

            if again:
                raise KeyboardInterrupt
            tasks.request_checkpoint_and_stop()
        for worker in list(self.workers.values()):
            try:
                os.kill(worker.process.pid, signal.SIGKILL if again else signum)
            except ProcessLookupError:
                pass


def run_local(
    cells: list[Cell], store: Store, *, jobs: int = 1, data_root: str | None = None,
    device: str | None = None, retry_failed: bool = False, console: Console | None = None,
) -> LocalResult:
    """Run ``cells`` (already filtered to the ones to run) and return what happened."""
    from suite import tasks

    console = console or Console()
    result = LocalResult()
    if not cells:
        return result
    jobs = max(1, min(jobs, len(cells)))
    columns = (TextColumn("[bold]cells"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    workers: dict = {}
    pending = list(cells)
    with Progress(*columns, console=console, transient=False) as bar, _Stop(workers) as stop:
        task = bar.add_task("", total=len(cells))

        def finished(outcome: dict[str, Any]) -> None:
            result.outcomes.append(outcome)
            style = STYLE.get(outcome["status"], "")
            bar.console.print(f"[{style}]{outcome['line']}[/]" if style else outcome["line"],
                              markup=bool(style), highlight=False)
            bar.update(task, advance=1, description=f"last: {outcome['line'][:80]}")

        try:
            if jobs == 1:
                while pending and stop.signum is None:
                    cell = pending.pop(0)
                    bar.update(task, description=f"running {cell.label}")
                    finished(run_claimed(cell, store, data_root=data_root, device=device,
                                         progress=True, retry_failed=retry_failed))
            else:
                _run_workers(pending, workers, stop, jobs, store, finished,
                             data_root=data_root, device=device, retry_failed=retry_failed)
        finally:
            tasks.clear_stop_request()
    if stop.signum is not None:
        result.interrupted_by = signal.Signals(stop.signum).name
        result.not_started = len(pending)
    return result


@dataclass
class _Worker:
    process: Any
    conn: Any
    cell: Cell | None = None  # the cell it runs now


def _run_workers(pending: list[Cell], workers: dict, stop: _Stop, jobs: int, store: Store, finished, *,
                 data_root, device, retry_failed) -> None:
    """Keep ``jobs`` worker processes busy until the cells run out or a stop is asked."""
    ctx = multiprocessing.get_context("spawn")  # no forked torch/OpenMP state
    idle: list[_Worker] = []

    def hand_out(worker: _Worker) -> None:
        if pending and stop.signum is None:
            worker.cell = pending.pop(0)
            try:
                worker.conn.send(worker.cell.model_dump(mode="json"))
            except OSError:  # the idle worker died meanwhile: the cell waits for another
                pending.insert(0, worker.cell)
                worker.cell = None
                workers.pop(worker.process.sentinel, None)
        else:
            worker.cell = None
            idle.append(worker)

    try:
        while (pending and stop.signum is None) or any(w.cell for w in workers.values()):
            running = sum(w.cell is not None for w in workers.values())
            while pending and stop.signum is None and running < jobs:
                running += 1
                if idle:
                    hand_out(idle.pop())
                    continue
                ours, theirs = ctx.Pipe()
                proc = ctx.Process(target=_worker,
                                   args=(theirs, str(store.root), data_root, device, retry_failed))
                proc.start()
                theirs.close()
                worker = _Worker(proc, ours)
                workers[proc.sentinel] = worker
                hand_out(worker)
            busy = [w for w in workers.values() if w.cell is not None]
            if not busy:
                break
            ready = multiprocessing.connection.wait([w.conn for w in busy]
                                                    + [w.process.sentinel for w in busy])
            for worker in busy:
                if worker.conn in ready or worker.process.sentinel in ready:
                    outcome = None
                    try:
                        if worker.conn.poll():
                            outcome = worker.conn.recv()
                    except (EOFError, OSError):
                        outcome = None
                    if outcome is not None:
                        finished(outcome)
                        hand_out(worker)
                    elif not worker.process.is_alive():
                        worker.process.join()
                        if stop.signum is not None:  # the stop we forwarded ended it (even mid-start)
                            finished(_stopped_before_reporting(worker.cell, store, worker.process.pid, stop.signum))
                        else:
                            finished(_death(worker.cell, worker.process.exitcode, store, worker.process.pid))
                        del workers[worker.process.sentinel]
                        worker.conn.close()
    finally:
        for worker in list(workers.values()):
            try:
                worker.conn.send(None)
            except (OSError, ValueError):
                pass
        for worker in list(workers.values()):
            worker.process.join(timeout=30)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        workers.clear()
