"""What a set of cells costs before it is launched: GPU-hours (or CPU-hours) from resources.

A cell asks for ``gpus`` per node on ``nodes`` nodes for at most ``time_min`` minutes, so
its budget is gpus x nodes x time_min / 60 GPU-hours. This is the *time limit* a user
books, an upper bound: a run that converges sooner costs less, a requeued one more.
Cells without GPUs are counted in CPU-hours (cpus x nodes x time) instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from suite.cell import Cell


@dataclass(frozen=True)
class Cost:
    gpu_hours: float
    cpu_hours: float  # of the cells that ask for no GPU
    cells: int

    def text(self) -> str:
        parts = []
        if self.gpu_hours or not self.cpu_hours:
            parts.append(f"{self.gpu_hours:,.0f} GPU-hours")
        if self.cpu_hours:
            parts.append(f"{self.cpu_hours:,.1f} CPU-hours")
        return " + ".join(parts)


def cell_hours(cell: Cell) -> tuple[float, float]:
    """(GPU-hours, CPU-hours) one cell books: per-node resources x nodes x time limit."""
    res = cell.resources
    hours = res.nodes * res.time_min / 60
    return (res.gpus * hours, 0.0) if res.gpus else (0.0, res.cpus * hours)


def cost(cells: Iterable[Cell]) -> Cost:
    gpu = cpu = 0.0
    n = 0
    for cell in cells:
        g, c = cell_hours(cell)
        gpu, cpu, n = gpu + g, cpu + c, n + 1
    return Cost(gpu_hours=gpu, cpu_hours=cpu, cells=n)


def cost_line(all_cells: list[Cell], to_run: list[Cell]) -> str:
    """One line for --dry-run: the cost of what would run, and of the whole selection."""
    run, total = cost(to_run), cost(all_cells)
    if not run.cells:
        return (f"cost: no cell would run now; all {total.cells} book at most {total.text()} "
                "(per cell: GPUs (or CPUs, without GPUs) x nodes x time limit).")
    return (f"cost: at most {run.text()} for the {run.cells} cell(s) that would run "
            f"({total.text()} for all {total.cells}; per cell: GPUs (or CPUs, without GPUs) x nodes x time limit).")
