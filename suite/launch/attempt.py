"""One attempt at one cell: run the task in the cell's workdir, file the record.

Both executors end here. The workdir is ``store.workdir(cell.id)``, the same folder on
every attempt, so an attempt after a crash or a preemption resumes from the newest
checkpoint the task left there. A task that raises gives a "failed" record (error and
traceback); an interrupted attempt (Ctrl-C, or a SLURM preemption after which the task
saved and raised ``StopRequested``) gives none, since it will be resumed. Preemptions are counted in a file of
the workdir by the SLURM job's ``checkpoint()`` and reported by the attempt that finishes.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from suite.atomic import atomic_write_text, remove_stale_temps
from suite.cell import Cell
from suite.launch import record as records
from suite.store import Store

PREEMPTIONS_FILE = "preemptions"


def preemptions(workdir: Path) -> int:
    """How often this cell was preempted since its last finished attempt."""
    try:
        counted = int((Path(workdir) / PREEMPTIONS_FILE).read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        counted = 0
    # SLURM also counts requeues (e.g. `scontrol requeue`, which kills without the signal
    # that would run checkpoint()); take whichever saw more.
    restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    return max(counted, restarts)


def count_preemption(workdir: Path) -> int:
    """Add one to the workdir's preemption counter; returns the new count."""
    path = Path(workdir) / PREEMPTIONS_FILE
    try:
        n = int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        n = 0
    atomic_write_text(path, f"{n + 1}\n")
    return n + 1


def run_and_record(
    cell: Cell,
    store: Store,
    *,
    executor: dict[str, Any],
    data_root: str | None = None,
    device: str | None = None,
    progress: bool = True,
    write: bool = True,
) -> dict[str, Any] | None:
    """Run ``cell`` once and (if ``write``) append its record to ``store``; returns it.

    A task that was asked to stop (preemption: ``suite.tasks.request_checkpoint_and_stop``)
    saves, raises ``StopRequested`` and gets no record: None is returned, the next
    attempt resumes.
    """
    from suite import tasks  # looked up at call time: tests may replace run_cell

    workdir = store.workdir(cell.id)
    if write:
        # We hold the cell's claim: a temp file here is the leftover of a writer killed
        # mid-write (one checkpoint-sized file per kill), never a write in progress.
        remove_stale_temps(workdir)
        remove_stale_temps(store.root / "records" / "train" / cell.id)
    try:
        result = tasks.run_cell(cell, workdir, data_root=data_root, device=device, progress=progress)
        record = records.from_result(cell, result, preemptions=preemptions(workdir), executor=executor)
    except tasks.StopRequested:
        return None
    except Exception as exc:  # noqa: BLE001 - any crash of the task is a failed attempt
        record = records.from_error(cell, exc, preemptions=preemptions(workdir), executor=executor)
    if write:
        store.write("train", cell.id, record)
        (workdir / PREEMPTIONS_FILE).unlink(missing_ok=True)  # the next attempt counts afresh
    return record
