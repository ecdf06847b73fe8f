"""Fused sigmoid-gated activations on the CPU: Swish-beta, ACON-C, Meta-ACON, Sqish and
APALU by a C++ extension (csrc/gated.cpp, built by ``native``).

The first four are one family, y = x (A + B sigmoid(K x + D)) with A..D constant along a
row (``gates``: each unit's A..D from its parameters, the per-row gradient sums of A..D
carried back by autograd). The kernels' cost is the exp, for which the extension has its
own vector exp instead of the Sleef exp that torch.compile emits (fp32 forward+backward
on 3.2M elements: 0.55x-0.93x the compiled kernels' time in the same run, `python -m
suite bench --peers`).

Inputs the extension does not take (other dtypes than float32, rows shorter than a
vector, or no compiler) run the torch.compile kernels of ``cpu`` instead.
"""
from __future__ import annotations

import torch

from suite.activations.fused import cpu, register_kernel
from suite.activations.fused.gates import GATED_UNITS, as_vector
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


def gated(x: torch.Tensor, channels: int, A, B, K, D) -> torch.Tensor:
    """x (A + B sigmoid(K x + D)) by the extension (``extension_for`` said it can); A..D:
    vectors of length 1, C or N*C."""
    return NATIVE.apply("gated", x, *(as_vector(p) for p in (A, B, K, D)), options=(channels,))


_FALLBACKS = {"swish_beta": cpu.swish_beta_kernel, "acon_c": cpu.acon_kernel,
              "meta_acon": cpu.meta_acon_kernel, "sqish": cpu.sqish_kernel}


def _gated_kernel(name: str):
    unit = GATED_UNITS[name]

    def kernel(module, x):
        channels = unit.channels(module, x)
        if extension_for(x, channels) is None or (unit.needs_channels and channels == 1):
            return _FALLBACKS[name](module, x)
        return gated(x, channels, *unit.constants(module, x))

    kernel.__name__ = f"{name}_kernel"
    return kernel


for _name in GATED_UNITS:
    register_kernel(_name, "cpu")(_gated_kernel(_name))


@register_kernel("apalu", "cpu")
def apalu_kernel(module, x):
    if extension_for(x, 1) is None:
        return cpu.apalu_kernel(module, x)
    return NATIVE.apply("apalu", x, as_vector(module.a), as_vector(module.b))
