"""Fused Hermite activation on the CPU by a C++ extension (csrc/hermite.cpp, built by
``native``): the three-term recurrence, one pass forward and one pass backward, float32,
degrees 1 to 16.

The backward needs d + 1 sums (dy times each scaled polynomial); with the degree fixed at
compile time they stay in registers beside the recurrence, where the torch.compile kernel
of ``cpu`` (which serves other dtypes and degrees) took 3.5x ReLU's backward time at
degree 8.
"""
from __future__ import annotations

from suite.activations.fused import cpu, register_kernel
from suite.activations.fused.native import NativeExtension

NATIVE = NativeExtension("hermite", "hermite.cpp", what="fused Hermite kernel")
MAX_DEGREE = 16  # kMaxDegree in csrc/hermite.cpp


@register_kernel("hermite", "cpu")
def hermite_kernel(module, x):
    c = module.coefficients
    if not (2 <= c.shape[0] <= MAX_DEGREE + 1 and NATIVE.serves(x, c)):
        return cpu.hermite_kernel(module, x)
    return NATIVE.apply("hermite", x, c)
