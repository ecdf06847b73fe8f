"""The sigmoid-gated units as one form, for the kernels of every device.

Swish-beta, ACON-C, Meta-ACON and Sqish are all

    y = x (A + B sigmoid(K x + D)),

with A..D constant along a row (one channel of one sample, or the whole tensor for a
per-layer unit). Each unit's A..D come from its parameters by ordinary (tiny,
differentiable) tensor ops, so a kernel needs only the one form: it returns the per-row
gradient sums of A..D and autograd carries them back to the unit's parameters. The C++
kernel (``cpu_gated``) and the Triton kernel (``cuda_gated``) both take units through
``GATED_UNITS``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from suite.activations.base import along_channels

_CPU_CONSTANTS = {0.0: torch.zeros(1), 1.0: torch.ones(1)}  # never written


def constant(x: torch.Tensor, value: float) -> torch.Tensor:
    """A [1] float32 constant on x's device (the CPU's two common ones are cached)."""
    if x.device.type == "cpu" and value in _CPU_CONSTANTS:
        return _CPU_CONSTANTS[value]
    return torch.full((1,), value, device=x.device)


@dataclass(frozen=True)
class GatedUnit:
    """How one unit maps to the gated form.

    ``per_row_parameters``: the parameters whose length says per layer (1) or per
    channel (C); ``constants(module, x)``: A, B, K, D, each of length 1, C or N*C."""

    per_row_parameters: Callable[[torch.nn.Module], tuple[torch.Tensor, ...]]
    constants: Callable[[torch.nn.Module, torch.Tensor], tuple[torch.Tensor, ...]]
    needs_channels: bool = False  # Meta-ACON: beta per sample and channel

    def channels(self, module: torch.nn.Module, x: torch.Tensor) -> int:
        """1 for a per-layer unit, else C after the standard channel check."""
        per_channel = [p for p in self.per_row_parameters(module) if p.shape[0] > 1]
        for p in per_channel:
            along_channels(p, x)  # raises the standard channel-mismatch error
        return x.shape[1] if per_channel else 1


def _swish_beta(module, x):
    return constant(x, 0.0), constant(x, 1.0), module.beta, constant(x, 0.0)


def _acon_c(module, x):
    # (p1 - p2) x sigmoid(beta (p1 - p2) x) + p2 x
    dp = module.p1 - module.p2
    return module.p2, dp, module.beta * dp, constant(x, 0.0)


def _meta_acon(module, x):
    # ACON-C with beta per sample and channel from the switch (pooling and two 1x1
    # convolutions), which stays in autograd.
    dp = module.p1 - module.p2
    beta = module.switch(x).reshape(x.shape[0], module.channels)
    return module.p2, dp, beta * dp, constant(x, 0.0)


def _sqish(module, x):
    # alpha x + (1 - alpha) x sigmoid(2 gamma (1 - alpha) x - log beta)
    rest = 1 - module.alpha
    return module.alpha, rest, 2 * module.gamma * rest, constant(x, -math.log(module.beta))


GATED_UNITS: dict[str, GatedUnit] = {
    "swish_beta": GatedUnit(lambda m: (m.beta,), _swish_beta),
    "acon_c": GatedUnit(lambda m: (m.p1, m.p2, m.beta), _acon_c),
    "meta_acon": GatedUnit(lambda m: (m.p1, m.p2), _meta_acon, needs_channels=True),
    "sqish": GatedUnit(lambda m: (m.alpha, m.gamma), _sqish),
}


def as_vector(p: torch.Tensor) -> torch.Tensor:
    """A parameter as the contiguous float32 vector the kernels read."""
    return p if p.dtype == torch.float32 and p.dim() == 1 and p.is_contiguous() else p.to(torch.float32).reshape(-1)
