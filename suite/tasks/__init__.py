"""Tasks: train and evaluate one cell (classification, language modelling, detection).

``run_cell(cell, workdir, *, data_root=None, device=None, progress=True) -> dict`` is the
only entry point an executor needs (the return format is in docs/INTERFACES.md). It
resumes from ``workdir``'s checkpoint when there is one, checkpoints every K steps, returns
status "diverged" when the loss stops being finite, and raises ``StopRequested`` after
saving when ``request_checkpoint_and_stop()`` was called (a preemption handler's hook).
"""
from __future__ import annotations

import importlib
import os
import time
from pathlib import Path

import torch

from suite.cell import Cell
from suite.errors import SuiteError
from suite.tasks.loop import (  # noqa: F401  (the executor-facing hooks)
    STEP_HOOKS,
    StopRequested,
    clear_stop_request,
    request_checkpoint_and_stop,
)
from suite.tasks.recipes import RECIPES, get_recipe, recipe_names

# task name -> (module with build(cell, recipe, data_root, device, dist_env), description)
TASKS = {
    "classification": ("suite.tasks.classification", "image classification: top-1/top-5 accuracy, loss"),
    "lm": ("suite.tasks.language_model", "language modelling: validation loss, perplexity"),
    "detection": ("suite.tasks.detection", "object detection: COCO mAP@[.5:.95], mAP@.5 (pycocotools)"),
}


def run_cell(cell: Cell, workdir, *, data_root=None, device=None, progress: bool = True) -> dict:
    from suite.data import DATASETS
    from suite.tasks.checkpoint import atomic_torch_save
    from suite.tasks.loop import init_distributed, resolve_device, seed_everything, train
    from suite.tasks.shapes import activation_shapes, parameter_counts

    started = time.perf_counter()
    if cell.task not in TASKS:
        raise SuiteError(f"task {cell.task!r} is not accepted; expected one of {', '.join(TASKS)}.")
    data_task = DATASETS.get(cell.dataset).info["task"]
    if data_task != cell.task:
        raise SuiteError(f"data set {cell.dataset!r} is not accepted for task {cell.task!r}; "
                         f"it is a {data_task} data set.")
    recipe = get_recipe(cell.task, cell.recipe, cell.recipe_overrides)
    workdir = Path(workdir)
    device = resolve_device(device, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist_env = init_distributed(device)
    seed_everything(cell.seed)
    module = importlib.import_module(TASKS[cell.task][0])
    adapter, model = module.build(cell, recipe, data_root, device, dist_env)
    model.to(device)
    result = train(adapter, model, recipe, cell_id=cell.id, seed=cell.seed, workdir=workdir, device=device,
                   dist_env=dist_env, progress=progress, label=cell.label)
    final = workdir / "final.pt"
    if dist_env.is_main:
        atomic_torch_save({"cell": cell.identity(), "status": result.status, "steps": result.steps,
                           "metrics": result.metrics, "state_dict": result.eval_model.state_dict()}, final)
    out = {
        "status": result.status,
        "metrics": result.metrics,
        "history": result.history,
        "steps": result.steps,
        "wall_time_s": time.perf_counter() - started,
        "throughput": {"samples_per_s": result.samples_per_s,
                       **({"tokens_per_s": result.samples_per_s * recipe.block_size} if cell.task == "lm" else {})},
        "resumed_from_step": result.resumed_from_step,
        "params": parameter_counts(model),
        "activation_shapes": activation_shapes(result.eval_model),
        "checkpoint": str(final),
        "recipe": recipe.model_dump(mode="json"),
        "statistics_phase": result.statistics_phase,
    }
    if result.diverged_at_step is not None:
        out["diverged_at_step"] = result.diverged_at_step
    return out


def catalog_rows() -> list[dict]:
    """Rows for ``suite list tasks``: each task with its metrics and recipes."""
    rows = []
    for task, (module, description) in TASKS.items():
        rows.append({"task": task, "description": description, "recipes": ", ".join(recipe_names(task))})
    return rows


__all__ = ["run_cell", "catalog_rows", "get_recipe", "RECIPES", "TASKS", "StopRequested",
           "request_checkpoint_and_stop", "clear_stop_request", "STEP_HOOKS"]
