"""Fused Fourier activation on the CPU by a C++ extension (csrc/fourier.cpp, built by
``native``): one pass forward, one pass backward, float32, degrees 1 to 8.

The learnt frequencies give each harmonic its own sine-cosine pair per element, which is
the kernel's whole cost; the extension's vector sin/cos (one range reduction for both,
short polynomials) is cheaper than the torch.compile kernel of ``cpu``, which serves the
inputs the extension does not take (other dtypes, higher degrees, no compiler).
"""
from __future__ import annotations

import torch

from suite.activations.fused import cpu, register_kernel
from suite.activations.fused.native import NativeExtension

NATIVE = NativeExtension("fourier", "fourier.cpp", what="fused Fourier kernel")
MAX_DEGREE = 8  # kMaxDegree in csrc/fourier.cpp


@register_kernel("fourier", "cpu")
def fourier_kernel(module, x):
    params = (module.fundamental, module.coefficients, module.frequencies, module.phases)
    if module.degree > MAX_DEGREE or not NATIVE.serves(x, *params):
        return cpu.fourier_kernel(module, x)
    return NATIVE.apply("fourier", x, *params)
