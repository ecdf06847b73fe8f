"""One generic name -> factory registry, used for activations, architectures, tasks, data sets.

Modelled on timm's ``register_model``/``create_model``: a family module decorates its
factories with ``REGISTRY.register(name, aliases=..., **info)``; callers look names up with
``REGISTRY.get(name)``, which turns an unknown name into one clear error listing the
closest registered names (difflib), never a bare KeyError.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from suite.errors import SuiteError


def canonical(name: str) -> str:
    """Names are matched case-insensitively, with '-' and '_' treated alike."""
    return name.strip().lower().replace("-", "_")


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Any]
    aliases: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)


class Registry:
    def __init__(self, kind: str):
        self.kind = kind  # "activation", "architecture", ...: used in error messages
        self._entries: dict[str, Entry] = {}
        self._alias_to_name: dict[str, str] = {}

    def register(self, name: str, *, aliases: tuple[str, ...] | list[str] = (), **info):
        """Decorator registering ``factory`` under ``name`` (and ``aliases``) with metadata."""

        def decorator(factory):
            key = canonical(name)
            if key in self._alias_to_name:
                raise RuntimeError(f"{self.kind} {name!r} is registered twice")
            self._entries[key] = Entry(key, factory, tuple(canonical(a) for a in aliases), dict(info))
            self._alias_to_name[key] = key
            for alias in aliases:
                self._alias_to_name[canonical(alias)] = key
            return factory

        return decorator

    def resolve(self, name: str) -> str:
        """Return the canonical registered name for ``name`` or raise a SuiteError with suggestions."""
        if not isinstance(name, str):
            raise SuiteError(f"{self.kind} name must be a string, got {name!r}.")
        key = canonical(name)
        if key in self._alias_to_name:
            return self._alias_to_name[key]
        close = difflib.get_close_matches(key, list(self._alias_to_name), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        raise SuiteError(
            f"unknown {self.kind} {name!r}; {hint}registered: {', '.join(self.names())}."
        )

    def get(self, name: str) -> Entry:
        return self._entries[self.resolve(name)]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return canonical(name) in self._alias_to_name

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._entries)
