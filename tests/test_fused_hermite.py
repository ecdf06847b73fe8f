"""The C++ Hermite kernel (csrc/hermite.cpp) behind the fused unit on the CPU.

It is held to the paper's Hermite series written here in float64 from the explicit sum
for the probabilists' Hermite polynomials,
    y = sum_k c_k He_k(x) / k!,   He_n(x) = n! sum_{m <= n/2} (-1)^m x^(n-2m) / (m! (n-2m)! 2^m)
(arXiv 2502.01247), differentiated by autograd, in value and gradient, for every degree
it takes, in both vector builds; and the unit is checked to take it for float32 and the
torch.compile kernel for the rest.
"""
import math

import pytest
import torch

import suite.activations as A
from native_builds import (VARIANTS, assert_compiled_kernel_serves, build,
                           check_against_formula, needs_compiler, ops_sent_to)
from suite.activations.fused import cpu_hermite

pytestmark = needs_compiler


def hermite_e(n, x):
    return sum((-1) ** m * math.factorial(n) / (math.factorial(m) * math.factorial(n - 2 * m) * 2**m) * x ** (n - 2 * m)
               for m in range(n // 2 + 1))


def hermite_series(x, c):
    return sum(c[k] * hermite_e(k, x) / math.factorial(k) for k in range(c.shape[0]))


def test_hermite_extension_builds():
    """Without this a failed build would pass unnoticed: the fallback is the compiled kernel."""
    assert cpu_hermite.NATIVE.get() is not None
    assert cpu_hermite.NATIVE.get().max_degree() == cpu_hermite.MAX_DEGREE


def test_explicit_polynomials_are_hermite_e():
    """The test's own formula, checked against numpy's probabilists' Hermite series."""
    import numpy as np

    x = np.linspace(-4, 4, 33)
    for n in range(9):
        unit = np.zeros(n + 1)
        unit[n] = 1
        np.testing.assert_allclose(hermite_e(n, x), np.polynomial.hermite_e.hermeval(x, unit), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("degree", [1, 2, 3, 5, 8, 12, cpu_hermite.MAX_DEGREE])
def test_hermite_kernel_against_the_formula(variant, degree):
    ext = build(cpu_hermite.NATIVE, variant)
    gen = torch.Generator().manual_seed(degree)
    x = torch.randn(2 * 16384 + 11, generator=gen) * 1.5  # two full work items and a partial vector
    x[:3] = torch.tensor([0.0, 4.0, -4.0])
    dy = torch.randn(x.shape, generator=gen)
    c = torch.randn(degree + 1, generator=gen)
    check_against_formula(ext.hermite_forward, ext.hermite_backward, hermite_series, x, dy, [c], ["x", "coefficients"],
                          y_rtol=1e-5, grad_rtol=5e-5)


def test_float32_units_take_the_extension(monkeypatch):
    unit = A.create("hermite", degree=3)
    assert ops_sent_to(cpu_hermite.NATIVE, monkeypatch, unit, torch.randn(2, 3, 8, 8)) == ["hermite"]


@pytest.mark.parametrize("dtype,degree", [(torch.float64, 3), (torch.bfloat16, 3),
                                          (torch.float32, cpu_hermite.MAX_DEGREE + 1)])
def test_inputs_the_extension_does_not_take_run_the_compiled_kernel(dtype, degree, monkeypatch):
    assert_compiled_kernel_serves(monkeypatch, "hermite", dtype, x_scale=1.0, degree=degree)
