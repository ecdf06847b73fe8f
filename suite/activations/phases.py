"""Training phases of activations that have them (PWLU's statistics-based realignment).

A task calls ``begin_statistics(model)`` before its first steps, runs the statistics
phase for the recipe's number of steps, then ``realign(model)``; both return how many
modules they touched, so a model without such activations costs nothing.
"""
from __future__ import annotations

from torch import nn


def begin_statistics(model: nn.Module) -> int:
    modules = [m for m in model.modules() if callable(getattr(m, "begin_statistics", None))]
    for m in modules:
        m.begin_statistics()
    return len(modules)


def realign(model: nn.Module) -> int:
    modules = [m for m in model.modules() if callable(getattr(m, "realign", None))]
    for m in modules:
        m.realign()
    return len(modules)
