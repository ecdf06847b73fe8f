"""The record of one attempt at a cell, built from the task's result or its crash.

The store files it under the cell id; report reads it. Fields: ``cell`` (the full cell),
``cell_id``, ``label``, ``status`` ("done" | "diverged" | "failed"), every field of the
task's result (metrics, history, steps, resumed_from_step, ...), ``preemptions``,
``error`` (failed attempts: type, message, traceback), ``executor`` and ``provenance``.
"""
from __future__ import annotations

import traceback
from typing import Any

from suite.cell import Cell
from suite.store import provenance

RESULT_STATUSES = ("done", "diverged")


def _base(cell: Cell, *, preemptions: int, executor: dict[str, Any]) -> dict[str, Any]:
    return {
        "cell": cell.model_dump(mode="json"),
        "cell_id": cell.id,
        "label": cell.label,
        "preemptions": int(preemptions),
        "executor": executor,
        "provenance": provenance(),
    }


def from_result(cell: Cell, result: dict[str, Any], *, preemptions: int = 0,
                executor: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record of an attempt that returned; a status other than done/diverged is a bug."""
    status = result.get("status")
    if status not in RESULT_STATUSES:
        raise RuntimeError(f"run_cell returned status {status!r}; expected one of {RESULT_STATUSES}")
    reserved = {"cell", "cell_id", "label", "preemptions", "executor", "provenance"}
    return {**{k: v for k, v in result.items() if k not in reserved},
            **_base(cell, preemptions=preemptions, executor=executor or {})}


def from_error(cell: Cell, exc: BaseException, *, preemptions: int = 0,
               executor: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record of an attempt that raised: the error and its traceback, no metrics."""
    return {
        "status": "failed",
        "error": {
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc)),
        },
        **_base(cell, preemptions=preemptions, executor=executor or {}),
    }


def summary(record: dict[str, Any]) -> str:
    """One line for progress output: label, status, main metrics or the error."""
    label = record.get("label", record.get("cell_id", "?"))
    status = record.get("status", "?")
    if status == "failed":
        err = record.get("error", {})
        return f"{label}: failed ({err.get('type')}: {err.get('message', '')[:120]})"
    metrics = record.get("metrics") or {}
    shown = " ".join(
        f"{k}={v:.4g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in metrics.items()
    )
    wall = record.get("wall_time_s")
    timing = f" in {wall:.1f} s" if isinstance(wall, (int, float)) else ""
    return f"{label}: {status} {shown}{timing}"
