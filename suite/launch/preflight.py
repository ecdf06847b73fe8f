"""What a launch can really do, checked before it starts: data on disk, resources granted.

``--dry-run`` prints this beside each cell, and a real launch prints the same warnings, so
neither says a cell "would run" when it will fail at its first line: a cell whose data
set is not under the data root is marked, and on SLURM each cell shows the resources the
cluster profile will grant (cpus, memory and time capped at the profile's maxima, one task
per GPU) or why the profile refuses it.
"""
from __future__ import annotations

from suite.cell import Cell, Resources
from suite.errors import SuiteError


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
