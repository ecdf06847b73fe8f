"""SLURM cluster profiles: what a cluster offers, merged with what each cell asks for.

A profile is a TOML file in ``slurm/profiles/`` (``--profile local``) or any path
(``--profile ./mycluster.toml``). The cell's resources (``suite.cell.Resources``: gpus per
node, nodes, cpus per task, mem_gb per node, time_min) say what a run needs; the profile
says where it runs (partition, account, qos, constraint), caps what the cluster can give
(a cell asking for more cpus, memory or time than the cap gets the cap; one asking for
more GPUs than a node has is an error), and adds setup lines and extra sbatch options.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from suite.cell import Resources
from suite.errors import SuiteError
from suite.safe_text import line_problem

PROFILES_DIRS = (
    Path.cwd() / "slurm" / "profiles",
    Path(__file__).resolve().parents[2] / "slurm" / "profiles",  # the suite's checkout
)


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    max_gpus_per_node: int | None = Field(None, ge=0)
    max_cpus_per_task: int | None = Field(None, ge=1)
    max_mem_gb: int | None = Field(None, ge=1)
    max_time_min: int | None = Field(None, ge=1)
    array_parallelism: int = Field(256, ge=1)  # array tasks running at once
    signal_delay_s: int = Field(120, ge=10)  # SIGUSR2 this long before the time limit
    max_requeues: int = Field(3, ge=0)  # time-outs a cell may be requeued after
    setup: list[str] = Field(default_factory=list)  # shell lines run before the job
    sbatch: dict[str, Any] = Field(default_factory=dict)  # extra `#SBATCH --key=value`

    @field_validator("partition", "account", "qos", "constraint")
    @classmethod
    def _one_token(cls, value: str | None) -> str | None:
        # Each becomes an `#SBATCH` line: a newline would start a line of shell.
        if value is not None and (line_problem(value) or not value.strip() or " " in value):
            raise ValueError(f"{value!r} is not accepted; expected one word without spaces or control "
                             "characters")
        return value

    @field_validator("setup")
    @classmethod
    def _setup_lines(cls, lines: list[str]) -> list[str]:
        for line in lines:
            if line_problem(line):
                raise ValueError(f"setup line {line!r} is not accepted; expected one line per list entry")
        return lines

    @field_validator("sbatch")
    @classmethod
    def _sbatch_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        for key, value in options.items():
            if not re.fullmatch(r"[a-z][a-z0-9_-]*", key):
                raise ValueError(f"sbatch option {key!r} is not accepted; expected a lower-case option name")
            if not isinstance(value, (str, int, bool)) or line_problem(str(value)):
                raise ValueError(f"sbatch value {value!r} of {key!r} is not accepted; expected one line "
                                 "of text or a number")
        return options


def available() -> list[str]:
    names = set()
    for folder in PROFILES_DIRS:
        names.update(p.stem for p in folder.glob("*.toml"))
    return sorted(names)


def load_profile(name_or_path: str) -> tuple[str, Profile]:
    """(name, profile) for a profile name or a .toml path; SuiteError on a bad file."""
    import tomllib

    path = Path(name_or_path)
    if not (name_or_path.endswith(".toml") or path.is_file()):
        path = next((d / f"{name_or_path}.toml" for d in PROFILES_DIRS
                     if (d / f"{name_or_path}.toml").exists()), None)
        if path is None:
            raise SuiteError(f"unknown SLURM profile {name_or_path!r}; available: "
                             f"{', '.join(available()) or 'none'} (or give a .toml path).")
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SuiteError(f"SLURM profile {str(path)!r} cannot be read ({exc}).") from None
    try:
        return path.stem, Profile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            why = f"unknown field; accepted fields: {', '.join(Profile.model_fields)}"
        else:
            why = err["msg"].removeprefix("Value error, ")
        raise SuiteError(f"SLURM profile {str(path)!r}: field {where}: {why}.") from None


def submitit_parameters(profile: Profile, res: Resources, *, name: str) -> dict[str, Any]:
    """submitit AutoExecutor parameters for cells with resources ``res`` on ``profile``.

    One task (DDP rank) per GPU: ``gpus = 8`` launches 8 ranks per node, each given
    RANK/LOCAL_RANK/WORLD_SIZE by ``CellJob``; a CPU cell runs ``tasks`` ranks (gloo),
    default 1. ``cpus`` is per task, ``mem_gb`` per node, ``gpus`` per node.
    """
    if profile.max_gpus_per_node is not None and res.gpus > profile.max_gpus_per_node:
        raise SuiteError(
            f"a cell asks for {res.gpus} GPUs per node but the SLURM profile offers at most "
            f"{profile.max_gpus_per_node}; use another profile or filter the cells (--arch, --task)."
        )

    if res.gpus and res.tasks is not None and res.tasks != res.gpus:
        raise SuiteError(
            f"a cell asks for {res.tasks} tasks per node with {res.gpus} GPUs; expected one DDP rank per GPU "
            f"(tasks = {res.gpus}, or leave tasks out)."
        )

    def cap(value: int, limit: int | None) -> int:
        return value if limit is None else min(value, limit)

    params: dict[str, Any] = {
        "name": name,
        "nodes": res.nodes,
        "tasks_per_node": res.tasks or max(1, res.gpus),  # each task is one DDP rank
        "cpus_per_task": cap(res.cpus, profile.max_cpus_per_task),
        "mem_gb": cap(res.mem_gb, profile.max_mem_gb),
        "timeout_min": cap(res.time_min, profile.max_time_min),
        "slurm_signal_delay_s": profile.signal_delay_s,
        "slurm_array_parallelism": profile.array_parallelism,
        "slurm_max_num_timeout": profile.max_requeues,
    }
    if res.gpus:
        params["gpus_per_node"] = res.gpus
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(profile, key):
            params[f"slurm_{key}"] = getattr(profile, key)
    if profile.setup:
        params["slurm_setup"] = list(profile.setup)
    if profile.sbatch:
        params["slurm_additional_parameters"] = dict(profile.sbatch)
    return params
