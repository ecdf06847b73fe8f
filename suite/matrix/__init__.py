"""Matrices of training runs: TOML specs validated by pydantic, expanded into cells.

``load_matrix("smoke")`` (a shipped name) or ``load_matrix("my.toml")`` (a path) reads a
matrix and checks every name in it against the registries; ``expand(matrix, ...)`` turns
it into ``suite.cell.Cell`` objects, optionally filtered by activation, architecture and
task, or run with other seeds. A wildcard ``"*"`` in ``activations`` stands for every
registered activation at expansion time, so a newly registered activation joins the
``smoke`` and ``full`` matrices without editing them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from suite import actspec
from suite.cell import Cell
from suite.errors import SuiteError
from suite.matrix import names as _names
from suite.matrix.spec import WILDCARD, Block, MatrixSpec, read

MATRICES_DIR = Path(__file__).parent / "matrices"


@dataclass(frozen=True)
class Matrix:
    """A validated matrix file: its spec and where it came from (for error messages)."""

    spec: MatrixSpec
    source: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def description(self) -> str:
        return self.spec.description


def shipped() -> list[str]:
    """Names of the matrices that come with the suite."""
    return sorted(p.stem for p in MATRICES_DIR.glob("*.toml"))


def load_matrix(name_or_path: str | Path) -> Matrix:
    """A shipped matrix by name, or a matrix file by path; every name in it is checked."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".toml") or path.is_file()):
        if text not in shipped():
            hint = _names.closest(text, shipped())
            raise SuiteError(
                f"unknown matrix {text!r};{hint} shipped: {', '.join(shipped())} "
                f"(or give the path of a .toml file)."
            )
        path = MATRICES_DIR / f"{text}.toml"
    elif not path.exists():
        raise SuiteError(f"matrix file {text!r} does not exist.")
    spec = read(path)
    matrix = Matrix(spec, repr(text))
    _load_plugins(matrix, path.parent)
    check_names(matrix)
    return matrix


def _load_plugins(matrix: Matrix, base: Path) -> None:
    from suite import plugins

    for i, plugin in enumerate(matrix.spec.plugins):
        try:
            plugins.load(plugin, base=base)
        except SuiteError as exc:
            raise _at(matrix, f"plugins[{i}]", exc) from None


def _resolve_spec(text: str) -> tuple[str, dict[str, Any]]:
    """``"hermite:degree=8"`` -> ``("hermite", {"degree": 8})`` with the canonical name."""
    from suite.activations import ACTIVATIONS

    name, params = actspec.parse(text)
    entry = ACTIVATIONS.get(name)
    actspec.check_params(entry, params)
    return entry.name, params


def _at(matrix: Matrix, where: str, exc: SuiteError) -> SuiteError:
    msg = str(exc).rstrip(".")
    return SuiteError(f"matrix file {matrix.source}: field {where}: {msg}.")


def check_names(matrix: Matrix) -> None:
    """Raise one SuiteError (file, field, accepted names) for the first unknown name."""
    spec = matrix.spec
    for act in spec.act_params:
        try:
            _names.resolve_activation(act)
        except SuiteError as exc:
            raise _at(matrix, f"act_params.{act}", exc) from None
    for b, block in enumerate(spec.blocks):
        here = f"block[{b}]"
        for i, act in enumerate(block.activations):
            if act == WILDCARD:
                continue
            try:
                _resolve_spec(act)
            except SuiteError as exc:
                raise _at(matrix, f"{here}.activations[{i}]", exc) from None
        for i, act in enumerate(block.exclude):
            try:
                _names.resolve_activation(act)
            except SuiteError as exc:
                raise _at(matrix, f"{here}.exclude[{i}]", exc) from None
        for act in block.act_params:
            try:
                _names.resolve_activation(act)
            except SuiteError as exc:
                raise _at(matrix, f"{here}.act_params.{act}", exc) from None
        try:
            _names.check_task(block.task)
        except SuiteError as exc:
            raise _at(matrix, f"{here}.task", exc) from None
        try:
            _names.check_dataset(block.dataset)
        except SuiteError as exc:
            raise _at(matrix, f"{here}.dataset", exc) from None
        served = _names.dataset_task(block.dataset)
        if served is not None and served != block.task:
            raise SuiteError(
                f"matrix file {matrix.source}: field {here}.dataset: data set "
                f"{block.dataset!r} serves task {served!r}, but the block's task is {block.task!r}."
            )
        try:
            _names.check_recipe(block.task, block.recipe)
        except SuiteError as exc:
            raise _at(matrix, f"{here}.recipe", exc) from None
        try:
            _names.check_recipe(block.task, block.recipe, block.recipe_overrides)
        except SuiteError as exc:
            raise _at(matrix, f"{here}.recipe_overrides", exc) from None
        for i, arch in enumerate(block.archs):
            try:
                canonical = _names.resolve_arch(arch)
            except SuiteError as exc:
                raise _at(matrix, f"{here}.archs[{i}]", exc) from None
            arch_task = _names.arch_task(canonical)
            if arch_task is not None and arch_task != block.task:
                raise SuiteError(
                    f"matrix file {matrix.source}: field {here}.archs[{i}]: architecture "
                    f"{arch!r} is built for task {arch_task!r}, but the block's task is "
                    f"{block.task!r}."
                )
        check_block_cells(matrix, b, block)


def _params_field(spec: MatrixSpec, b: int, block: Block, act: str) -> str:
    """Where ``act``'s parameters come from, for errors: the block's table, the matrix's, or none."""
    for table, where in ((block.act_params, f"block[{b}].act_params"), (spec.act_params, "act_params")):
        for name in table:
            if _names.resolve_activation(name) == act:
                return f"{where}.{name}"
    return f"block[{b}].activations"


def check_block_cells(matrix: Matrix, b: int, block: Block) -> None:
    """Every activation of the block builds with its parameters, and at least one is left."""
    acts = _block_activations(block)
    if not acts:
        raise SuiteError(f"matrix file {matrix.source}: field block[{b}].exclude: it removes every "
                         f"activation of the block ({', '.join(block.activations)}); expected at least one left to run.")
    checked: set[str] = set()
    for act, spec_params in acts:
        params = {**_act_params(matrix.spec, block, act), **spec_params}
        seen = f"{act}:{sorted(params.items())!r}"
        if seen in checked:
            continue
        checked.add(seen)
        try:
            _names.check_activation(act, params)
        except SuiteError as exc:
            raise _at(matrix, _params_field(matrix.spec, b, block, act), exc) from None


def _block_activations(block: Block) -> list[tuple[str, dict[str, Any]]]:
    """The block's activations as (canonical name, parameters of its spec), the wildcard
    resolved now; an activation listed with two parameter sets appears twice."""
    out: list[tuple[str, dict[str, Any]]] = []
    for act in block.activations:
        expanded = [(a, {}) for a in _names.activation_names()] if act == WILDCARD else [_resolve_spec(act)]
        out.extend(a for a in expanded if a not in out)
    excluded = {_names.resolve_activation(a) for a in block.exclude}
    return [a for a in out if a[0] not in excluded]


def _act_params(spec: MatrixSpec, block: Block, act: str) -> dict[str, Any]:
    """Matrix-wide defaults for ``act``, updated by the block's own (keys are names or aliases)."""
    params: dict[str, Any] = {}
    for table in (spec.act_params, block.act_params):
        for name, values in table.items():
            if _names.resolve_activation(name) == act:
                params.update(values)
    return params


def _check_filter(kind: str, wanted: Iterable[str], present: list[str], matrix: Matrix,
                  resolve=None) -> set[str]:
    """Canonical names of ``wanted``; each must be registered and appear in the matrix."""
    out = set()
    for value in wanted:
        name = resolve(value) if resolve else value  # unknown name -> registry's SuiteError
        if name not in present:
            raise SuiteError(
                f"{kind} {value!r} is not in matrix {matrix.name!r};"
                f"{_names.closest(name, present)} it has: {', '.join(present)}."
            )
        out.add(name)
    return out


def expand(
    matrix: Matrix | str | Path,
    *,
    activations: Iterable[str] | None = None,
    archs: Iterable[str] | None = None,
    tasks: Iterable[str] | None = None,
    seeds: Iterable[int] | None = None,
) -> list[Cell]:
    """The matrix's cells, in file order, without duplicates.

    ``activations``, ``archs``, ``tasks`` keep only the cells with those names (each name
    must be registered and occur in the matrix); ``seeds`` replaces every block's seeds.
    """
    if not isinstance(matrix, Matrix):
        matrix = load_matrix(matrix)
    spec = matrix.spec
    per_block = [(block, _block_activations(block)) for block in spec.blocks]
    all_acts = sorted({a for _, acts in per_block for a, _ in acts})
    all_archs = sorted({_names.resolve_arch(a) for b in spec.blocks for a in b.archs})
    all_tasks = sorted({b.task for b in spec.blocks})
    # --act takes the same spec as the matrix: its parameters override the matrix's.
    act_specs = [_resolve_spec(a) for a in activations] if activations else []
    keep_acts = _check_filter("activation", [n for n, _ in act_specs], all_acts, matrix,
                              _names.resolve_activation) if activations else None
    overrides: dict[str, list[dict[str, Any]]] = {}
    for name, params in act_specs:
        overrides.setdefault(_names.resolve_activation(name), []).append(params)
    keep_archs = _check_filter("architecture", archs, all_archs, matrix, _names.resolve_arch) if archs else None
    keep_tasks = _check_filter("task", tasks, all_tasks, matrix) if tasks else None
    seed_list = list(seeds) if seeds is not None else None

    cells: dict[str, Cell] = {}
    for block, acts in per_block:
        if keep_tasks is not None and block.task not in keep_tasks:
            continue
        for act, spec_params in acts:
            if keep_acts is not None and act not in keep_acts:
                continue
            base = {**_act_params(spec, block, act), **spec_params}
            for params in [{**base, **o} for o in overrides.get(act, [{}])]:
                for arch_name in block.archs:
                    arch = _names.resolve_arch(arch_name)
                    if keep_archs is not None and arch not in keep_archs:
                        continue
                    for seed in seed_list if seed_list is not None else block.seeds:
                        cell = Cell(
                            activation=act, act_params=params, arch=arch, task=block.task,
                            dataset=block.dataset, recipe=block.recipe,
                            recipe_overrides=block.recipe_overrides, seed=seed,
                            resources=block.resources,
                        )
                        cells.setdefault(cell.id, cell)
    return list(cells.values())


def catalog_rows() -> list[dict[str, Any]]:
    """Rows for ``python -m suite list matrices``."""
    rows = []
    for name in shipped():
        matrix = load_matrix(name)
        cells = expand(matrix)
        rows.append({
            "name": name,
            "cells": len(cells),
            "blocks": len(matrix.spec.blocks),
            "description": matrix.description,
        })
    return rows


__all__ = ["Matrix", "MatrixSpec", "Block", "load_matrix", "expand", "catalog_rows", "shipped"]
