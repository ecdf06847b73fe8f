"""Fused tropical and tropical rational activations on the CPU by a C++ extension
(csrc/tropical.cpp, built by ``native``): one pass forward, one pass backward, float32,
degrees 1 to 8.

The tropical rational backward needs 4 d + 2 sums (dy and dy x above each breakpoint of
both maximums): the torch.compile kernel of ``cpu`` splits them over two passes, the
extension keeps them in registers and adds each by one masked add. The tropical unit's
slopes are fixed (0..d), so it needs only d + 1 sums of dy. Other dtypes and degrees run
the compiled kernels.
"""
from __future__ import annotations

import torch

from suite.activations.fused import cpu, register_kernel
from suite.activations.fused.native import NativeExtension

NATIVE = NativeExtension("tropical", "tropical.cpp", what="fused tropical rational kernel")
MAX_DEGREE = 8  # kMaxDegree in csrc/tropical.cpp


def _parameters(module):
    return module.powers_num, module.coefficients_num, module.powers_denom, module.coefficients_denom


def _takes(module, x, *params) -> bool:
    return 1 <= module.degree <= MAX_DEGREE and NATIVE.serves(x, *params)


@register_kernel("tropical_rational", "cpu")
def tropical_rational_kernel(module, x):
    if not _takes(module, x, *_parameters(module)):
        return cpu.tropical_rational_kernel(module, x)
    return NATIVE.apply("tropical_rational", x, *_parameters(module))


@register_kernel("tropical", "cpu")
def tropical_kernel(module, x):
    if not _takes(module, x, module.coefficients):
        return cpu.tropical_kernel(module, x)
    return NATIVE.apply("tropical", x, module.coefficients)
