"""The pydantic models of a matrix file (TOML), and the translation of their errors.

A matrix is a list of blocks; each block is the product
``activations x archs x (task, dataset, recipe) x seeds`` with its own resources::

    name = "smoke"
    plugins = ["my_lab.activations"]   # optional: modules or .py files registering activations
    description = "every activation x three embedded tasks"

    [act_params]                 # defaults for every block, by activation name
    hermite = { degree = 3 }

    [[block]]
    activations = ["*"]          # "*" = every registered activation, at expansion time;
                                 # an entry may carry parameters: "hermite:degree=8"
    archs = ["small_cnn"]
    task = "classification"
    dataset = "digits"
    recipe = "smoke"
    seeds = [0]
    resources = { cpus = 1, mem_gb = 2, time_min = 10 }

The models only check shapes and types; names (activations, architectures, recipes) are
checked against the registries in ``suite.matrix.expand`` so that a file can be parsed
without importing torch.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from suite.cell import Resources
from suite.errors import SuiteError
from suite.safe_text import line_problem, name_problem

WILDCARD = "*"


class Block(BaseModel):
    """One product of the matrix: every activation x every arch x every seed."""

    model_config = ConfigDict(extra="forbid")
    label: str = ""  # optional, shown by --dry-run and in errors
    activations: list[str] = Field(min_length=1)
    # Taken out of the block after "*" is expanded (e.g. an activation that does not
    # apply to the block's task: Meta-ACON pools over space, which has no causal
    # equivalent in a language model).
    exclude: list[str] = Field(default_factory=list)
    archs: list[str] = Field(min_length=1)
    task: str
    dataset: str
    recipe: str
    recipe_overrides: dict[str, Any] = Field(default_factory=dict)
    act_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    seeds: list[StrictInt] = Field(default_factory=lambda: [0], min_length=1)  # true is not seed 1
    resources: Resources = Field(default_factory=Resources)
    # arXiv ids of the papers whose published numbers this block reproduces: the report's
    # published-vs-reproduced page names these cells (and their command) for those numbers.
    reproduces: list[str] = Field(default_factory=list)

    @field_validator("label")
    @classmethod
    def _label_one_line(cls, label: str) -> str:
        problem = line_problem(label)
        if problem:
            raise ValueError(problem)
        return label

    @field_validator("seeds")
    @classmethod
    def _seeds_unique(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds}")
        return seeds


class MatrixSpec(BaseModel):
    """A whole matrix file."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str
    description: str = ""
    act_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    blocks: list[Block] = Field(alias="block", min_length=1)
    # Modules or .py files (relative to the matrix file) that register activations this
    # matrix names: imported before the names are checked, and by every worker.
    plugins: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        # The name becomes the SLURM job name, a line of the batch script.
        problem = name_problem(name)
        if problem:
            raise ValueError(problem)
        return name


def _location(loc: tuple) -> str:
    """('block', 0, 'seeds', 1) -> 'block[0].seeds[1]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model that owns the last named field of ``loc`` (for 'accepted fields')."""
    model: type[BaseModel] | None = MatrixSpec
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = next(
            (f for n, f in model.model_fields.items() if part in (n, f.alias)), None
        )
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        candidates = [ann, *args]
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    return model


def explain(exc: ValidationError, source: str) -> SuiteError:
    """Turn pydantic's error list into one SuiteError naming file, field and what is accepted."""
    # A misspelt field shows up twice (unknown 'activation', missing 'activations'):
    # name the unknown one, it is where the typo is.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = tuple(first["loc"])
    where = _location(loc)
    kind = first["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc)
        fields = [f.alias or n for n, f in model.model_fields.items()] if model else []
        close = difflib.get_close_matches(str(loc[-1]), fields, n=1)
        hint = f" did you mean {close[0]!r}?" if close else ""
        message = f"unknown field {loc[-1]!r};{hint} accepted fields: {', '.join(fields) or 'see the docs'}"
    elif kind == "missing":
        message = f"required field {loc[-1]!r} is missing"
    else:
        message = f"{first['msg'][0].lower()}{first['msg'][1:]}, got {first.get('input')!r}"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return SuiteError(f"matrix file {source}: field {where}: {message}{more}.")


def parse(data: dict[str, Any], source: str) -> MatrixSpec:
    """Validate the TOML data of ``source`` (a path or name used in error messages)."""
    try:
        return MatrixSpec.model_validate(data)
    except ValidationError as exc:
        raise explain(exc, source) from None


def read(path: Path) -> MatrixSpec:
    """Read and validate one matrix file."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SuiteError(f"matrix file {str(path)!r} cannot be read ({exc.strerror}).") from None
    except UnicodeDecodeError as exc:
        raise SuiteError(f"matrix file {str(path)!r} is not UTF-8 text (byte {exc.start}); "
                         "expected a TOML file saved as UTF-8.") from None
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"matrix file {str(path)!r} is not valid TOML ({exc}).") from None
    return parse(data, repr(str(path)))
