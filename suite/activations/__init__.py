"""The activation registry: every activation the suite compares, by name.

``create(name, **params)`` returns an ``nn.Module``. Every factory accepts ``inplace=``
(so timm's ``act_layer`` can call it) and, where the activation has a per-channel variant,
``channels=``. Family modules register their names on import with ``register_activation``.
"""
from __future__ import annotations

import difflib
import functools
import inspect

from torch import nn

from suite.errors import SuiteError
from suite.registry import Registry

ACTIVATIONS = Registry("activation")


def register_activation(
    name: str,
    *,
    family: str,
    paper: str,
    learnable: bool,
    aliases: tuple[str, ...] = (),
    per_channel: bool = False,
    **info,
):
    """Register an activation factory.

    family: short group name shown by ``suite list activations`` (e.g. "classic", "pwlu").
    paper: citation of the formula's source (authors, year, arXiv id).
    learnable: whether the module has trainable parameters.
    per_channel: whether the factory accepts ``channels=`` for per-channel parameters.
    source=, deviation= (optional): the paper section or authors' file the definition
    follows, and any deliberate departure from it; built-in names take theirs from
    ``suite.activations.sources``.
    """
    return ACTIVATIONS.register(
        name, aliases=aliases, family=family, paper=paper, learnable=learnable,
        per_channel=per_channel, **info,
    )


def create(name: str, **params) -> nn.Module:
    """Build the activation ``name`` with ``params`` (bad names/params raise SuiteError)."""
    entry = ACTIVATIONS.get(name)
    accepted = inspect.signature(entry.factory).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(accepted), n=2)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        raise SuiteError(
            f"activation {entry.name!r} has no parameter {unknown[0]!r}{hint}; "
            f"it accepts: {', '.join(accepted) or 'nothing'}."
        )
    return entry.factory(**params)


def act_layer(name: str, **params):
    """A callable for timm's ``act_layer=``: ``act_layer('pwlu')(inplace=True)`` -> module."""
    return functools.partial(create, name, **params)


def names() -> list[str]:
    return ACTIVATIONS.names()


# Family modules register themselves on import. Order is the order of `suite list`.
from suite.activations import (  # noqa: E402,F401
    classic,
    learnable_simple,
    apalu,
    pau,
    pwlu,
    orthogonal,
    tropical,
    bspline,
)

from suite.activations import sources  # noqa: E402

sources.attach(ACTIVATIONS)

# Activations from outside the suite (entry points, $SUITE_PLUGINS), after the suite's own
# so that a plugin reusing a suite name is the one refused as registered twice.
from suite import plugins as _plugins  # noqa: E402

_plugins.load_all()
