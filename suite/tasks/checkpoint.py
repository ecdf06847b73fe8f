"""Checkpoints of a training run: written atomically, read back for an exact resume.

A checkpoint holds everything the next step depends on: model (the PWLU phase and its
statistics live in the model's buffers), optimizer, grad scaler, EMA, the RNG states of
torch/CUDA/numpy/python, the torch thread count (it decides the reduction order, so a
resumed run keeps it), the data position (epoch + batch index within that epoch's seeded
order), the history so far and the loss accumulators. It is written to a temporary file,
fsynced and renamed over ``checkpoint.pt``, so a kill at any moment leaves either the
previous checkpoint or the new one.

Loading never runs code from the file: it uses ``torch.load(weights_only=True)``, so every
value saved here is a tensor or a plain type (numpy's RNG state is stored as a tensor). A
store may be a shared folder that others can write into; a checkpoint that is torn
(truncated, corrupted) or that would need code to load is set aside as
``checkpoint.pt.set-aside-<time>`` with a warning, and the cell starts from scratch.
"""
from __future__ import annotations

import datetime as _dt
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from suite.atomic import atomic_write
from suite.errors import SuiteError

log = logging.getLogger("suite.tasks")

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = 2  # 2: loads with weights_only=True (numpy RNG as a tensor, thread count)


def _numpy_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _set_numpy_state(state: dict[str, Any]) -> None:
    keys = state["keys"].numpy().astype(np.uint32)
    np.random.set_state((state["name"], keys, state["pos"], state["has_gauss"], state["cached_gaussian"]))


def rng_state() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    state = {"torch": torch.get_rng_state(), "numpy": _numpy_state(),
             "python": [version, list(internal), gauss]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    _set_numpy_state(state["numpy"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_torch_save(obj: Any, path: Path) -> None:
    atomic_write(path, lambda f: torch.save(obj, f))


def save_checkpoint(workdir: Path, state: dict[str, Any]) -> Path:
    path = Path(workdir) / CHECKPOINT_NAME
    atomic_torch_save({"format": FORMAT, **state, "rng": rng_state(),
                       "torch_threads": torch.get_num_threads()}, path)
    return path


def set_aside(path: Path, reason: str) -> Path:
    """Rename an unusable checkpoint out of the way (kept for inspection) and say so."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = path.with_name(f"{path.name}.set-aside-{stamp}")
    path.replace(target)
    log.warning("checkpoint %s %s; set aside as %s; the cell restarts from scratch",
                path, reason, target.name)
    return target


def _read(path: Path) -> dict[str, Any] | None:
    """The checkpoint's contents, or None after setting aside a file that cannot be used."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is set aside, never fatal
        from pickle import UnpicklingError

        if isinstance(exc, UnpicklingError) and "weights_only" in str(exc).lower():
            reason = "holds objects that would run code when loaded (refused)"
        else:
            reason = f"is torn or corrupted ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
        set_aside(path, reason)
        return None
    if not isinstance(state, dict):
        set_aside(path, f"holds a {type(state).__name__}, not a checkpoint")
        return None
    return state


def load_checkpoint(workdir: Path, cell_id: str) -> dict[str, Any] | None:
    """The checkpoint in ``workdir``, or None; one written for another cell is refused.

    On resume the torch thread count is set to the one the checkpoint was written with.
    """
    path = Path(workdir) / CHECKPOINT_NAME
    if not path.is_file():
        return None
    state = _read(path)
    if state is None:
        return None
    if state.get("format") != FORMAT:
        set_aside(path, f"has format {state.get('format')!r}, not {FORMAT} (written by another version)")
        return None
    if state.get("cell_id") != cell_id:
        raise SuiteError(
            f"checkpoint {str(path)!r} belongs to cell {state.get('cell_id')!r}, not {cell_id!r}; "
            "expected each cell to have its own work directory."
        )
    threads = state.get("torch_threads")
    if isinstance(threads, int) and threads >= 1 and threads != torch.get_num_threads():
        log.info("resuming %s with %d torch threads, as it was checkpointed", path, threads)
        torch.set_num_threads(threads)
    return state
