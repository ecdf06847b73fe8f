"""Checks a launch makes before anything starts, so a fault shows once, not in every cell,
and what a launch can really do, shown by ``--dry-run``.

- ``check_device``: ``--device cuda`` on a machine without a usable GPU (local executor).
- ``check_data``: a data set the cells need is not under the data root (one error).
- ``data_problems``: the same, per cell, for ``--dry-run`` (a cell whose data set is missing
  is marked "cannot run" instead of "would run").
- ``slurm_resources``: on SLURM, the resources the cluster profile will grant each cell
  (cpus, memory and time capped at the profile's maxima, one task per GPU) or why the
  profile refuses it.
- ``unreadable_records``: a cell about to run again although its folder holds a record
  that cannot be read (a torn copy, a hand edit): the user is told which file, since the
  rerun may repeat a finished result.
"""
from __future__ import annotations

from collections import Counter

from suite.cell import Cell, Resources
from suite.errors import SuiteError
from suite.store import Store


def check_device(device: str | None) -> None:
    if device != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        raise SuiteError("--device cuda is not accepted on this machine: torch sees no CUDA GPU "
                         f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}); "
                         "expected a machine with a GPU, or --device cpu.")


def check_data(cells: list[Cell], data_root: str | None) -> None:
    from suite.data import DATASETS, data_root as resolve_root

    root = resolve_root(data_root)
    needed = Counter(c.dataset for c in cells)
    missing = []
    for name, count in needed.items():
        present = DATASETS.get(name).info.get("present")
        if present is not None and not present(root):
            missing.append(f"{name!r} ({count} cell{'s' if count > 1 else ''})")
    if missing:
        raise SuiteError(
            f"data set{'s' if len(missing) > 1 else ''} {', '.join(missing)} not found under the data root "
            f"{str(root)!r}; expected them there (see `python -m suite list datasets` and "
            "docs/readme/data-tasks.md): "
            "pass --data-root DIR or $SUITE_DATA=DIR, or leave those cells out with --task/--arch/--act."
        )


def unreadable_records(store: Store, cells: list[Cell]) -> list[str]:
    """One warning line per cell to run whose record folder holds an unusable file."""
    lines = []
    problems = store.problems_of(c.id for c in cells)
    for cell in cells:
        for problem in problems.get(cell.id, []):
            lines.append(f"warning: {cell.label} runs again: its record {problem.path} cannot be used "
                         f"({problem.reason}); set the file aside or fix it to keep that result.")
    return lines


def data_problems(cells: list[Cell], data_root: str | None) -> dict[str, str]:
    """{cell id: why its data is missing} for cells whose external data set is not on disk
    under the data root this machine resolves (``--data-root``, ``$SUITE_DATA``, ...)."""
    from suite.data import DATASETS, data_root as resolve

    root = resolve(data_root)
    present: dict[str, bool] = {}
    out = {}
    for cell in cells:
        check = DATASETS.get(cell.dataset).info.get("present")
        if check is None:
            continue
        if cell.dataset not in present:
            present[cell.dataset] = bool(check(root))
        if not present[cell.dataset]:
            out[cell.id] = f"data set {cell.dataset!r} not found under {root}"
    return out


def describe_granted(params: dict) -> str:
    """Resources as submitit will ask SLURM for them (after the profile's caps)."""
    gpus = params.get("gpus_per_node", 0)
    ranks = params["tasks_per_node"] * params["nodes"]
    where = f"{gpus} gpu x {params['nodes']} node" if gpus else "cpu"
    return (f"{where}, {ranks} task{'s' if ranks > 1 else ''}, {params['cpus_per_task']} cpu/task, "
            f"{params['mem_gb']} GB, {params['timeout_min']} min")


def slurm_resources(cells: list[Cell], profile) -> dict[str, str]:
    """{cell id: the resources the SLURM profile grants, or 'refused: why'}."""
    from suite.launch.profile import submitit_parameters

    granted: dict[Resources, str] = {}
    for res in {c.resources for c in cells}:
        try:
            params = submitit_parameters(profile, res, name="dry-run")
        except SuiteError as exc:
            granted[res] = f"refused: {exc}"
            continue
        capped = [f"{k} {getattr(res, k)}" for k, key in (("cpus", "cpus_per_task"), ("mem_gb", "mem_gb"),
                                                          ("time_min", "timeout_min"))
                  if params[key] != getattr(res, k)]
        granted[res] = describe_granted(params) + (f" (capped from {', '.join(capped)})" if capped else "")
    return {c.id: granted[c.resources] for c in cells}
