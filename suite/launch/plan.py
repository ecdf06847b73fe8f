"""What a launch will do: which cells to run, which to skip, and the --dry-run table.

A cell whose store status is done or diverged is finished and never rerun. A failed cell
is skipped with a notice unless ``--retry-failed`` is given. Pending cells run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from suite.cell import Cell, Resources

FINISHED = ("done", "diverged")
STATUS_STYLE = {"done": "green", "diverged": "yellow", "failed": "red", "pending": "dim"}


@dataclass
class Plan:
    cells: list[Cell]
    statuses: dict[str, str]
    retry_failed: bool = False
    to_run: list[Cell] = field(init=False)
    finished: list[Cell] = field(init=False)
    failed_skipped: list[Cell] = field(init=False)

    def __post_init__(self):
        self.to_run, self.finished, self.failed_skipped = [], [], []
        for cell in self.cells:
            status = self.statuses.get(cell.id, "pending")
            if status in FINISHED:
                self.finished.append(cell)
            elif status == "failed" and not self.retry_failed:
                self.failed_skipped.append(cell)
            else:
                self.to_run.append(cell)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for cell in self.cells:
            status = self.statuses.get(cell.id, "pending")
            out[status] = out.get(status, 0) + 1
        return out

    def notices(self) -> list[str]:
        lines = []
        if self.finished:
            lines.append(f"skipping {len(self.finished)} finished cell(s) (done or diverged)")
        if self.failed_skipped:
            lines.append(
                f"skipping {len(self.failed_skipped)} failed cell(s); rerun them with --retry-failed"
            )
        return lines


def describe_resources(res: Resources) -> str:
    gpus = f"{res.gpus} gpu x {res.nodes} node" if res.gpus else "cpu"
    return f"{gpus}, {res.cpus} cpu, {res.mem_gb} GB, {res.time_min} min"


def print_dry_run(plan: Plan, matrix_name: str, console: Console | None = None) -> None:
    """The cells as a table (id, label, task, recipe, status, resources) and the counts."""
    console = console or Console(width=160)
    table = Table(title=f"matrix {matrix_name}: {len(plan.cells)} cells")
    for col in ("id", "label", "task", "recipe", "status", "resources"):
        table.add_column(col, no_wrap=col in ("id", "status"))
    for cell in plan.cells:
        status = plan.statuses.get(cell.id, "pending")
        style = STATUS_STYLE.get(status, "")
        table.add_row(cell.id, cell.label, cell.task, cell.recipe,
                      f"[{style}]{status}[/]" if style else status, describe_resources(cell.resources))
    console.print(table)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(plan.counts().items()))
    console.print(f"{len(plan.cells)} cells: {counts}; {len(plan.to_run)} would run.")
    from suite.matrix.cost import cost_line

    console.print(cost_line(plan.cells, plan.to_run))
    for line in plan.notices():
        console.print(line)
