"""Trials: paper cells shrunk to a few steps (`suite run --max-steps N`).

The cap goes into each cell's ``recipe_overrides`` (``max_steps``), which is part of the
cell's identity: a trial gets its own id, its own store records and its own leaderboard
column (``recipe [max_steps=N]``), so a 50-step trial can never be taken for, or skip, the
full run. It works on every recipe: an epoch-based one stops after N updates too.
"""
from __future__ import annotations

from suite.cell import Cell
from suite.errors import SuiteError


def cap_steps(cells: list[Cell], max_steps: int) -> list[Cell]:
    """The cells with ``recipe_overrides.max_steps = max_steps`` (validated against each recipe)."""
    from suite.tasks.recipes import get_recipe

    if max_steps < 1:
        raise SuiteError(f"--max-steps {max_steps} is not accepted; expected a positive number of steps.")
    out = []
    for cell in cells:
        overrides = {**cell.recipe_overrides, "max_steps": max_steps}
        get_recipe(cell.task, cell.recipe, overrides)  # a bad combination fails before anything runs
        out.append(cell.model_copy(update={"recipe_overrides": overrides}))
    return out

