"""Fused PAU on the CPU by a C++ extension (csrc/pau.cpp, built by ``native``): one pass
forward, one pass backward from one table of powers, float32, versions A and B, numerator
degrees 1 to 6 and denominator degrees 1 to 5 (the default is 5 and 4).

Its cost is arithmetic (two polynomials, their derivatives, a division and m + 1 + n
sums per element); with the degrees fixed at compile time the sums stay in registers,
where the torch.compile kernel of ``cpu`` (which serves other dtypes and degrees) pays
for its reductions.
"""
from __future__ import annotations

import torch

from suite.activations.fused import cpu, register_kernel
from suite.activations.fused.native import NativeExtension

NATIVE = NativeExtension("pau", "pau.cpp", what="fused PAU kernel")
MAX_NUMERATOR, MAX_DENOMINATOR = 6, 5  # kMaxM, kMaxN in csrc/pau.cpp


def _takes(module, x) -> bool:
    num, den = module.numerator, module.denominator
    return (1 <= num.shape[0] - 1 <= MAX_NUMERATOR and 1 <= den.shape[0] <= MAX_DENOMINATOR
            and NATIVE.serves(x, num, den))


@register_kernel("pau", "cpu")
def pau_kernel(module, x):
    if not _takes(module, x):
        return cpu.pau_kernel(module, x)
    op = "pau_a" if module.version == "A" else "pau"
    return NATIVE.apply(op, x, module.numerator, module.denominator)
