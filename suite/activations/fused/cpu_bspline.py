"""Fused KAN B-spline activation on the CPU by a C++ extension (csrc/bspline.cpp, built by
``native``): one pass forward, one pass backward, float32, spline orders 0 to 3 on up to
30 intervals with AVX-512 (14 with AVX), the KAN default (grid 5, cubic) among them.

The compiled kernel of ``cpu`` evaluates every basis function by the Cox-de Boor
recursion (about 80 operations per element at grid 5, cubic); the extension looks up the
interval's polynomial in a vector table and adds each element's k + 1 basis values to
the coefficients' gradient sums by masked adds, all in registers. Other dtypes, orders,
grids, and machines without the extension run the compiled kernel.
"""
from __future__ import annotations

import torch

from suite.activations.base import along_channels
from suite.activations.fused import cpu, register_kernel
from suite.activations.fused.native import NativeExtension

NATIVE = NativeExtension("bspline", "bspline.cpp", what="fused B-spline kernel")


def extension_for(module, x: torch.Tensor):
    """The extension if it handles this unit on x, else None."""
    if not NATIVE.serves(x, *module.parameters()):
        return None
    ext = NATIVE.get()
    max_order, max_intervals = ext.limits()
    if module.spline_order > max_order or module.knots.numel() - 1 > max_intervals:
        return None
    return ext


@register_kernel("bspline", "cpu")
def bspline_kernel(module, x):
    if module.channels is not None:
        along_channels(module.base_weight, x)  # the standard channel-mismatch error
    if extension_for(module, x) is None:
        return cpu.bspline_kernel(module, x)
    channels = module.channels or 1
    return NATIVE.apply("bspline", x, module.coefficients, module.base_weight.reshape(-1),
                        module.spline_weight.reshape(-1), module.knots, options=(channels, module.spline_order))
