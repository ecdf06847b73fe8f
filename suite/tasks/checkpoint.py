"""Checkpoints of a training run: written atomically, read back for an exact resume.

A checkpoint holds everything the next step depends on: model (the PWLU phase and its
statistics live in the model's buffers), optimizer, grad scaler, EMA, the RNG states of
torch/CUDA/numpy/python, the data position (epoch + batch index within that epoch's
seeded order), the history so far and the loss accumulators. It is written to a temporary
file, fsynced and renamed over ``checkpoint.pt``, so a kill at any moment leaves either the
previous checkpoint or the new one, never a torn file.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from suite.atomic import atomic_write

from suite.errors import SuiteError

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = 1


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_torch_save(obj: Any, path: Path) -> None:
    atomic_write(path, lambda f: torch.save(obj, f))


def save_checkpoint(workdir: Path, state: dict[str, Any]) -> Path:
    path = Path(workdir) / CHECKPOINT_NAME
    atomic_torch_save({"format": FORMAT, **state, "rng": rng_state()}, path)
    return path


def load_checkpoint(workdir: Path, cell_id: str) -> dict[str, Any] | None:
    """The checkpoint in ``workdir``, or None; one written for another cell is refused."""
    path = Path(workdir) / CHECKPOINT_NAME
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("format") != FORMAT:
        raise SuiteError(f"checkpoint {str(path)!r} has format {state.get('format')!r}; expected {FORMAT}.")
    if state.get("cell_id") != cell_id:
        raise SuiteError(
            f"checkpoint {str(path)!r} belongs to cell {state.get('cell_id')!r}, not {cell_id!r}; "
            "expected each cell to have its own work directory."
        )
    return state
