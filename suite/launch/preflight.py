"""Checks a launch makes before anything starts, so a fault shows once, not in every cell.

- ``check_device``: ``--device cuda`` on a machine without a usable GPU (local executor).
- ``check_data``: a data set the cells need is not under the data root.
- ``unreadable_records``: a cell about to run again although its folder holds a record
  that cannot be read (a torn copy, a hand edit): the user is told which file, since the
  rerun may repeat a finished result.
"""
from __future__ import annotations

from collections import Counter

from suite.cell import Cell
from suite.errors import SuiteError
from suite.store import Store


def check_device(device: str | None) -> None:
    if device != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        raise SuiteError("--device cuda is not accepted on this machine: torch sees no CUDA GPU "
                         f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}); "
                         "expected a machine with a GPU, or --device cpu.")


def check_data(cells: list[Cell], data_root: str | None) -> None:
    from suite.data import DATASETS, data_root as resolve_root

    root = resolve_root(data_root)
    needed = Counter(c.dataset for c in cells)
    missing = []
    for name, count in needed.items():
        present = DATASETS.get(name).info.get("present")
        if present is not None and not present(root):
            missing.append(f"{name!r} ({count} cell{'s' if count > 1 else ''})")
    if missing:
        raise SuiteError(
            f"data set{'s' if len(missing) > 1 else ''} {', '.join(missing)} not found under the data root "
            f"{str(root)!r}; expected them there (see `python -m suite list datasets` and "
            "docs/readme/data-tasks.md): "
            "pass --data-root DIR or $SUITE_DATA=DIR, or leave those cells out with --task/--arch/--act."
        )


def unreadable_records(store: Store, cells: list[Cell]) -> list[str]:
    """One warning line per cell to run whose record folder holds an unusable file."""
    lines = []
    problems = store.problems_of(c.id for c in cells)
    for cell in cells:
        for problem in problems.get(cell.id, []):
            lines.append(f"warning: {cell.label} runs again: its record {problem.path} cannot be used "
                         f"({problem.reason}); set the file aside or fix it to keep that result.")
    return lines
