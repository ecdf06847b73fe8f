"""Training phases of activations that have them (PWLU's statistics-based realignment).

A task asks ``statistics_steps(model, total_steps, steps_per_epoch)`` how long phase I
lasts (each unit's own ``statistics`` setting: the paper's 5 % of training by default),
calls ``begin_statistics(model)`` before its first steps, and ``realign(model)`` after
that many steps; both return how many modules they touched, so a model without such
activations costs nothing.

Under DDP (``torch.distributed`` initialised) the statistics are each rank's own during
phase I (``begin_statistics`` asks DDP not to broadcast rank 0's over them) and
``realign`` pools them across ranks first, so every rank realigns to the same bounds.
"""
from __future__ import annotations

import torch
from torch import nn


def _with(model: nn.Module, method: str) -> list[nn.Module]:
    return [m for m in model.modules() if callable(getattr(m, method, None))]


def statistics_steps(model: nn.Module, total_steps: int, steps_per_epoch: int) -> int:
    """Phase I's length in optimizer steps: the longest any unit of ``model`` asks for
    (0: no unit has a phase I, or every one has it turned off)."""
    return max((m.statistics_steps(total_steps, steps_per_epoch) for m in _with(model, "statistics_steps")),
               default=0)


def begin_statistics(model: nn.Module) -> int:
    modules = _with(model, "begin_statistics")
    for m in modules:
        m.begin_statistics()
    _keep_statistics_per_rank(model)
    return len(modules)


def realign(model: nn.Module) -> int:
    modules = _with(model, "realign")
    reduce = _all_reduce_sum()
    for m in modules:
        if reduce is not None and getattr(m, "statistics_buffers", ()):
            m.realign(all_reduce=reduce)
        else:
            m.realign()
    return len(modules)


def copy_realigned(source: nn.Module, target: nn.Module) -> int:
    """Give ``target`` (an EMA copy of ``source``) the realigned units' state: an average
    would otherwise blend heights and bounds of the old grid with those of the new one."""
    pairs = [(s, t) for s, t in zip(source.modules(), target.modules()) if callable(getattr(s, "realign", None))]
    for s, t in pairs:
        t.load_state_dict(s.state_dict())
    return len(pairs)


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() \
        and torch.distributed.get_world_size() > 1


def _all_reduce_sum():
    """An in-place sum over the process group, or None outside DDP."""
    if not _distributed():
        return None
    return lambda tensor: torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)


def _keep_statistics_per_rank(model: nn.Module) -> None:
    """Exclude the units' statistics buffers from DDP's buffer broadcast (DDP reads the
    list when it wraps ``model``): with broadcast_buffers, every forward would replace each
    rank's running statistics by rank 0's, and the pooled statistics would be rank 0's."""
    names = [f"{prefix}.{buffer}" if prefix else buffer
             for prefix, m in model.named_modules() for buffer in getattr(m, "statistics_buffers", ())]
    if not names:
        return
    ignored = set(getattr(model, "_ddp_params_and_buffers_to_ignore", ())) | set(names)
    from torch.nn.parallel import DistributedDataParallel

    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, sorted(ignored))
