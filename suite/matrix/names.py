"""The registries a matrix names things from, behind small functions.

A matrix refers to activations, architectures, tasks, data sets and recipes by name;
this module is the one place that asks the owning layers whether a name exists, so that
``suite.matrix`` stays a thin layer above them. Registries are imported lazily: parsing a
matrix file does not import torch, checking its names does.
"""
from __future__ import annotations

import difflib

from suite.errors import SuiteError


def activation_names() -> list[str]:
    from suite import activations

    return activations.names()


def resolve_activation(name: str) -> str:
    from suite.activations import ACTIVATIONS

    return ACTIVATIONS.resolve(name)


def resolve_arch(name: str) -> str:
    from suite.architectures import ARCHITECTURES

    return ARCHITECTURES.resolve(name)


def arch_task(name: str) -> str | None:
    """The task an architecture is built for ("classification" | "lm" | "detection")."""
    from suite.architectures import ARCHITECTURES

    return ARCHITECTURES.get(name).info.get("task")


def check_task(task: str) -> str:
    from suite.tasks import TASKS

    if task not in TASKS:
        raise SuiteError(f"unknown task {task!r};{closest(task, list(TASKS))} accepted: {', '.join(TASKS)}.")
    return task


def check_dataset(dataset: str) -> str:
    from suite.data import DATASETS

    return DATASETS.resolve(dataset)


def dataset_task(dataset: str) -> str | None:
    """The task a data set serves, if its registry says."""
    from suite.data import DATASETS

    return DATASETS.get(dataset).info.get("task")


def check_recipe(task: str, recipe: str, overrides: dict | None = None) -> str:
    from suite.tasks.recipes import get_recipe

    get_recipe(task, recipe, overrides)  # raises SuiteError naming the accepted recipes or fields
    return recipe


def check_activation(name: str, params: dict) -> None:
    """Build ``name`` with ``params`` once, so that a bad parameter fails at load (and
    ``--dry-run``), not in every cell at run time. Per-channel factories get a probe
    channel count, as an architecture would give them."""
    import inspect

    from suite import activations

    entry = activations.ACTIVATIONS.get(name)
    accepted = inspect.signature(entry.factory).parameters
    params = dict(params)
    # per_channel is the surgery's switch (one parameter set per channel, the width traced
    # at each site: architectures.activation_factory), not a constructor argument.
    if params.pop("per_channel", False) and not entry.info.get("per_channel"):
        raise SuiteError(f"activation {name!r} has no per-channel variant; per_channel = true is accepted only "
                         "for activations listed per channel by `python -m suite list activations`.")
    probe = {"channels": 4} if "channels" in accepted and "channels" not in params else {}
    try:
        activations.create(name, **params, **probe)
    except SuiteError:
        raise
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise SuiteError(f"activation {name!r} cannot be built with {params} ({type(exc).__name__}: {exc}); "
                         "expected parameters it accepts (python -m suite list activations).") from None


def closest(value: str, accepted: list[str]) -> str:
    """' did you mean 'x'?' or '' (difflib), for errors about names outside a matrix."""
    close = difflib.get_close_matches(value, accepted, n=3, cutoff=0.5)
    return f" did you mean {', '.join(repr(c) for c in close)}?" if close else ""
