"""Fused sigmoid-gated activations on the CPU: Swish-beta, ACON-C, Meta-ACON, Sqish and
APALU by a C++ extension (csrc/gated.cpp, built by ``native``).

The first four are one family, y = x (A + B sigmoid(K x + D)) with A..D constant along a
row (one channel of one sample): each unit computes its A..D from its parameters with
ordinary (tiny, differentiable) tensor ops, the kernel returns per-row gradient sums
for A..D, and autograd carries them back to the unit's parameters. The kernels' cost is
the exp, for which the extension has its own vector exp instead of the Sleef exp that
torch.compile emits (fp32 forward+backward on 3.2M elements: 0.55x-0.93x the compiled
kernels' time in the same run, `python -m suite bench --peers`).

Inputs the extension does not take (other dtypes than float32, rows shorter than a
vector, or no compiler) run the torch.compile kernels of ``cpu`` instead.
"""
from __future__ import annotations

import math

import torch

from suite.activations.base import along_channels
from suite.activations.fused import cpu, register_kernel
from suite.activations.fused.native import NativeExtension

NATIVE = NativeExtension("gated", "gated.cpp", what="fused sigmoid-gate kernels")
_MIN_ROW = 16  # shorter rows (e.g. [N, C] inputs of per-channel units) go to the compiled kernels


def extension_for(x: torch.Tensor, channels: int):
    """The extension if it handles x viewed as rows of one channel each, else None."""
    if x.dtype != torch.float32:  # registered for "cpu": x is on the CPU
        return None
    if channels > 1 and (x.dim() < 2 or x.numel() < _MIN_ROW * x.shape[0] * x.shape[1]):
        return None
    return NATIVE.get()


def _vector(p: torch.Tensor) -> torch.Tensor:
    return p if p.dtype == torch.float32 and p.dim() == 1 else p.to(torch.float32).reshape(-1)


def gated(x: torch.Tensor, channels: int, A, B, K, D) -> torch.Tensor:
    """x (A + B sigmoid(K x + D)) by the extension (``extension_for`` said it can); A..D:
    vectors of length 1, C or N*C."""
    return NATIVE.apply("gated", x, _vector(A), _vector(B), _vector(K), _vector(D), options=(channels,))


def _channels(x: torch.Tensor, *params: torch.Tensor) -> int:
    """1 for a per-layer unit, else C after the standard channel check."""
    per_channel = [p for p in params if p.shape[0] > 1]
    for p in per_channel:
        along_channels(p, x)  # raises the standard channel-mismatch error
    return x.shape[1] if per_channel else 1


_ZERO, _ONE = torch.zeros(1), torch.ones(1)  # CPU constants, never written


def _constant(x: torch.Tensor, value: float) -> torch.Tensor:
    return _ZERO if value == 0 else _ONE if value == 1 else torch.full((1,), value)


@register_kernel("swish_beta", "cpu")
def swish_beta_kernel(module, x):
    channels = _channels(x, module.beta)
    if extension_for(x, channels) is None:
        return cpu.swish_beta_kernel(module, x)
    return gated(x, channels, _constant(x, 0.0), _constant(x, 1.0), module.beta, _constant(x, 0.0))


@register_kernel("acon_c", "cpu")
def acon_kernel(module, x):
    # ACON-C: (p1 - p2) x sigmoid(beta (p1 - p2) x) + p2 x
    channels = _channels(x, module.p1, module.p2, module.beta)
    if extension_for(x, channels) is None:
        return cpu.acon_kernel(module, x)
    dp = module.p1 - module.p2
    return gated(x, channels, module.p2, dp, module.beta * dp, _constant(x, 0.0))


@register_kernel("meta_acon", "cpu")
def meta_acon_kernel(module, x):
    # Meta-ACON: ACON-C with beta per sample and channel from the switch (pooling and
    # two 1x1 convolutions), which stays in autograd.
    channels = _channels(x, module.p1, module.p2)
    if extension_for(x, channels) is None or channels == 1:
        return cpu.meta_acon_kernel(module, x)
    dp = module.p1 - module.p2
    beta = module.switch(x).reshape(x.shape[0], channels)
    return gated(x, channels, module.p2, dp, beta * dp, _constant(x, 0.0))


@register_kernel("sqish", "cpu")
def sqish_kernel(module, x):
    # Sqish: alpha x + (1 - alpha) x sigmoid(2 gamma (1 - alpha) x - log beta)
    channels = _channels(x, module.alpha, module.gamma)
    if extension_for(x, channels) is None:
        return cpu.sqish_kernel(module, x)
    rest = 1 - module.alpha
    return gated(x, channels, module.alpha, rest, 2 * module.gamma * rest, _constant(x, -math.log(module.beta)))


@register_kernel("apalu", "cpu")
def apalu_kernel(module, x):
    if extension_for(x, 1) is None:
        return cpu.apalu_kernel(module, x)
    return NATIVE.apply("apalu", x, _vector(module.a), _vector(module.b))
