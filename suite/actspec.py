"""The one text form of an activation with parameters: ``name:key=value,...``.

``hermite:degree=8``, ``pwlu:n_regions=16,bound=2.5``, ``relu``. Every verb's ``--act``
and a matrix file's ``activations = [...]`` take it. Values are read as int, then float,
then ``true``/``false``, else kept as text. Parsing imports nothing (no torch): checking
the name against the registry is the caller's step.
"""
from __future__ import annotations

from typing import Any

from suite.errors import SuiteError

EXAMPLE = "name:key=value,... e.g. hermite:degree=8"


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse(text: str) -> tuple[str, dict[str, Any]]:
    """``"hermite:degree=8"`` -> ``("hermite", {"degree": 8})`` (name not yet resolved)."""
    name, _, rest = str(text).strip().partition(":")
    if not name.strip():
        raise SuiteError(f"activation spec {text!r} is not accepted; expected {EXAMPLE}.")
    params: dict[str, Any] = {}
    for item in filter(None, (i.strip() for i in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise SuiteError(f"activation parameter {item!r} in {text!r} is not accepted; expected "
                             f"key=value, as in {EXAMPLE}.")
        params[key.strip()] = _value(value.strip())
    return name.strip(), params


def check_params(entry, params: dict[str, Any]) -> None:
    """Refuse a parameter the registry ``entry``'s factory does not take (before any run)."""
    import difflib
    import inspect

    accepted = inspect.signature(entry.factory).parameters
    if any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        return
    for key in params:
        if key not in accepted:
            close = difflib.get_close_matches(key, list(accepted), n=2)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            raise SuiteError(f"activation {entry.name!r} has no parameter {key!r}{hint}; "
                             f"it accepts: {', '.join(accepted) or 'nothing'}.")


def format(name: str, params: dict[str, Any]) -> str:  # noqa: A001 - the inverse of parse
    """``("hermite", {"degree": 8})`` -> ``"hermite:degree=8"`` (keys sorted)."""
    if not params:
        return name
    return name + ":" + ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                                 for k, v in sorted(params.items()))
