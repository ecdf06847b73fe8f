"""A cell: one training run of the matrix (activation x architecture x task x seed).

The matrix expands into cells, an executor hands each to ``suite.tasks.run_cell``, and the
store files the result under ``cell.id``: a stable sha256 of the canonical JSON of the
fields that change the result (resources such as GPU count do not).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Resources(BaseModel):
    """What a cell asks the executor for; not part of its identity."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    gpus: int = Field(0, ge=0)  # per node; one DDP rank (SLURM task) per GPU
    nodes: int = Field(1, ge=1)
    tasks: int | None = Field(None, ge=1)  # DDP ranks per node: default one per GPU, 1 on CPU
    cpus: int = Field(2, ge=1)
    mem_gb: int = Field(8, ge=1)
    time_min: int = Field(30, ge=1)


class Cell(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    activation: str
    act_params: dict[str, Any] = Field(default_factory=dict)
    arch: str
    task: str  # "classification" | "lm" | "detection"
    dataset: str  # "digits", "imagenet", "local-text", "openwebtext", "digits-detection", "coco"
    recipe: str  # a named recipe of suite.tasks.recipes
    recipe_overrides: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    resources: Resources = Field(default_factory=Resources)

    def identity(self) -> dict[str, Any]:
        return self.model_dump(exclude={"resources"})

    @property
    def id(self) -> str:
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        return f"{self.activation}/{self.arch}/{self.dataset}/s{self.seed}"
