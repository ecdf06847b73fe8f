"""The shape of a store record, checked on every read.

A store may be a shared folder (a lab's NFS directory) that many people and versions of
the suite write into; one mistyped field in one file (a string seed, a list where the
metrics should be, a non-dict hardware entry, a malformed history) must not take down
``report`` or ``publish``. ``check(record)`` returns None for a record the readers can
use, else one sentence naming the field and what is accepted; the store returns such a
file as a problem with its path, and the board is built from the rest.

The models check types strictly (a seed is an integer, not "0" or true) and only the
fields readers use; other fields pass through, so older records still read.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, PlainValidator, StrictBool, StrictInt, StrictStr,
                      ValidationError)



def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("expected a number")
    return value


Number = Annotated[Any, PlainValidator(_number)]
Name = Field(min_length=1)


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class CellFields(_Loose):
    activation: StrictStr = Name
    arch: StrictStr = Name
    task: StrictStr = Name
    dataset: StrictStr = Name
    recipe: StrictStr = ""
    seed: StrictInt = 0
    act_params: dict[str, Any] = Field(default_factory=dict)
    recipe_overrides: dict[str, Any] = Field(default_factory=dict)


class Provenance(_Loose):
    git_commit: StrictStr | None = None
    git_dirty: StrictBool | None = None
    versions: dict[str, StrictStr | None] | None = None
    hardware: dict[str, Any] | None = None
    platform: StrictStr | None = None


class HistoryPoint(_Loose):
    """One logged step; every other entry (epoch, lr, train_loss, metrics) is a scalar."""

    step: StrictInt

    def model_post_init(self, _context: Any) -> None:
        for name, value in (self.model_extra or {}).items():
            if not (value is None or isinstance(value, (int, float, str))):
                raise ValueError(f"entry {name!r} is a {type(value).__name__}; expected a number")


class ShapeCurve(_Loose):
    x: list[Number] = Field(default_factory=list)
    y: list[Number] = Field(default_factory=list)


class Error(_Loose):
    type: StrictStr | None = None
    message: StrictStr | None = None


class TrainRecord(_Loose):
    key: StrictStr = Name
    written_at: StrictStr
    status: Literal["done", "failed", "diverged"]
    cell: CellFields
    metrics: dict[str, Number | None] | None = None
    history: list[HistoryPoint] | None = None
    wall_time_s: Number | None = None
    throughput: dict[str, Number | None] | None = None
    params: dict[str, Number | None] | None = None
    preemptions: StrictInt = Field(0, ge=0)
    error: Error | StrictStr | None = None
    provenance: Provenance | None = None
    activation_shapes: dict[str, ShapeCurve] | None = None


class BenchRecord(_Loose):
    key: StrictStr = Name
    written_at: StrictStr
    activation: StrictStr = Name
    act_params: dict[str, Any] | None = None
    provenance: Provenance | None = None


MODELS: dict[str, type[BaseModel]] = {"train": TrainRecord, "bench": BenchRecord}


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part)[:1].isupper() and not str(part).startswith(("function-", "str", "int")):
            # (the others are pydantic's names of union branches, not fields)
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def check(record: dict[str, Any], kind: str) -> str | None:
    """None if ``record`` (of store kind ``kind``) has the shape readers rely on, else why not."""
    model = MODELS.get(kind)
    if model is None:
        return None
    try:
        model.model_validate(record)
    except ValidationError as exc:
        first = exc.errors()[0]
        value = first.get("input")
        shown = repr(value) if len(repr(value)) <= 60 else f"a {type(value).__name__}"
        got = "" if first["type"] == "missing" else f", got {shown}"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        msg = first["msg"]
        where = _where(tuple(first["loc"]))
        return f"{kind} record with a bad field {where}: {msg[0].lower()}{msg[1:]}{got}{more}"
    return None
