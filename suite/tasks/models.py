"""Building a cell's model: the one place tasks call ``suite.architectures.create``."""
from __future__ import annotations

from torch import nn

from suite.cell import Cell
from suite.tasks.recipes import Recipe


def create_model(cell: Cell, recipe: Recipe, **data_kwargs) -> nn.Module:
    """The cell's architecture with its activation; data-derived sizes (classes, vocabulary,
    input channels) come from the data set, anything else from ``recipe.model_kwargs``."""
    from suite.architectures import ARCHITECTURES, create
    from suite.errors import SuiteError

    arch_task = ARCHITECTURES.get(cell.arch).info["task"]
    if arch_task != cell.task:
        raise SuiteError(f"architecture {cell.arch!r} is not accepted for task {cell.task!r}; "
                         f"it is a {arch_task} architecture.")
    kwargs = {**data_kwargs, **recipe.model_kwargs}
    if recipe.drop_path:
        kwargs.setdefault("drop_path_rate", recipe.drop_path)
    return create(cell.arch, act=cell.activation, act_params=dict(cell.act_params), **kwargs)
