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
    ranks = (res.tasks or max(1, res.gpus)) * res.nodes
    tasks = f", {ranks} tasks" if ranks > 1 else ""
    return f"{gpus}{tasks}, {res.cpus} cpu, {res.mem_gb} GB, {res.time_min} min"


def print_dry_run(plan: Plan, matrix_name: str, console: Console | None = None, *,
                  data_problems: dict[str, str] | None = None, resources: dict[str, str] | None = None) -> None:
    """The cells as a table (id, label, task, recipe, status, resources) and the counts.

    data_problems: {cell id: why} for cells whose data is missing (they would fail, not
    run); resources: {cell id: text} as the executor will grant them (the SLURM profile's
    caps), instead of what the cell asks for.
    """
    console = console or Console(width=160)
    data_problems, resources = data_problems or {}, resources or {}
    table = Table(title=f"matrix {matrix_name}: {len(plan.cells)} cells")
    for col in ("id", "label", "task", "recipe", "status", "resources"):
        table.add_column(col, no_wrap=col in ("id", "status"))
    blocked = {c.id for c in plan.to_run if c.id in data_problems or resources.get(c.id, "").startswith("refused")}
    for cell in plan.cells:
        status = plan.statuses.get(cell.id, "pending")
        style = STATUS_STYLE.get(status, "")
        shown = f"[{style}]{status}[/]" if style else status
        if cell.id in blocked:
            shown += " [red](cannot run)[/]"
        table.add_row(cell.id, cell.label, cell.task, cell.recipe, shown,
                      resources.get(cell.id) or describe_resources(cell.resources))
    console.print(table)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(plan.counts().items()))
    console.print(f"{len(plan.cells)} cells: {counts}; {len(plan.to_run) - len(blocked)} would run"
                  + (f", {len(blocked)} cannot run." if blocked else "."))
    for why in sorted({data_problems[i] for i in blocked if i in data_problems}):
        console.print(f"cannot run: {why} (see docs/readme/data-tasks.md; --data-root DIR or $SUITE_DATA)")
    for why in sorted({resources[i] for i in blocked if resources.get(i, "").startswith("refused")}):
        console.print(f"cannot run: {why}")
    from suite.matrix.cost import cost_line

    console.print(cost_line(plan.cells, [c for c in plan.to_run if c.id not in blocked]))
    for line in plan.notices():
        console.print(line)
