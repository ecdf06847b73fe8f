"""The C++ Fourier kernel (csrc/fourier.cpp) behind the fused Fourier activation on the CPU.

It is held to the paper's formula written here in float64,
    y = a0 + sum_k a_k / k! cos(w_k x - phi_k)       (arXiv 2502.01247),
differentiated by autograd, in value and in every gradient; on the whole float range
(its vector sin/cos is exact only for |w x - phi| <= 8192, beyond which a work item is
redone with the C library's); with inf and NaN; in both vector builds, and its sin and
cos also in one without fused multiply-adds (the range reduction differs there); and the
unit is checked to take it for float32 and the torch.compile kernel for everything else.
"""
import math

import pytest
import torch

import suite.activations as A
import native_builds
from native_builds import (FMA_VARIANTS, VARIANTS, assert_compiled_kernel_serves,
                           build, needs_compiler, ops_sent_to)
from suite.activations.fused import cpu_fourier

pytestmark = needs_compiler


def formula(x, a0, a, w, phi):
    """float64 y of the paper's Fourier series; x, parameters in float64."""
    factorials = torch.tensor([math.factorial(k) for k in range(1, a.shape[0] + 1)], dtype=torch.float64)
    return a0 + (torch.cos(x.unsqueeze(-1) * w - phi) * (a / factorials)).sum(-1)


def random_params(degree, seed, scale=0.3):
    gen = torch.Generator().manual_seed(seed)
    unit = A.create("fourier", degree=degree)
    return [(p.detach() + scale * torch.randn(p.shape, generator=gen)).contiguous()
            for p in (unit.fundamental, unit.coefficients, unit.frequencies, unit.phases)]


def kernel_and_formula(ext, x, dy, params):
    y = ext.fourier_forward(x, *params)
    grads = ext.fourier_backward(x, dy, *params)
    x64 = x.double().requires_grad_()
    params64 = [p.double().requires_grad_() for p in params]
    y64 = formula(x64, *params64)
    want = torch.autograd.grad(y64, [x64, *params64], dy.double())
    return y, grads, y64.detach(), want


def assert_gradients_close(grads, want, rtol=2e-5):
    native_builds.assert_gradients_close(["x", "a0", "a", "w", "phi"], grads, want, rtol)


def test_fourier_extension_builds():
    """Without this a failed build would pass unnoticed: the fallback is the compiled kernel."""
    assert cpu_fourier.NATIVE.get() is not None
    assert cpu_fourier.NATIVE.get().max_degree() == cpu_fourier.MAX_DEGREE


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("degree", range(1, cpu_fourier.MAX_DEGREE + 1))
def test_fourier_kernel_against_the_formula(variant, degree):
    ext = build(cpu_fourier.NATIVE, variant)
    gen = torch.Generator().manual_seed(degree)
    # 2 x 16384 + 37 elements: two full work items and a third with a partial vector
    x = torch.randn(2 * 16384 + 37, generator=gen) * 3
    x[:3] = torch.tensor([0.0, -0.0, 40.0])
    dy = torch.randn(x.shape, generator=gen)
    y, grads, y64, want = kernel_and_formula(ext, x, dy, random_params(degree, seed=degree))
    torch.testing.assert_close(y.double(), y64, rtol=1e-6, atol=1e-6)
    assert_gradients_close(grads, want)


@pytest.mark.parametrize("variant", FMA_VARIANTS)
def test_fourier_sin_cos_over_the_exact_range(variant):
    """a0 = 0, a_1 = 1, w_1 = 1, phi_1 = 0 gives y = cos x and dx = -sin x, right up to
    |x| = 8192, where the vector range reduction must still be exact, and densely over
    the first periods, where the polynomials' own error shows. The kernel's comment
    gives 2e-7 and 1.5e-7 as the largest errors; a coefficient off in its fourth digit
    misses 2.5e-7 by far. Also in a build without fused multiply-adds, whose range
    reduction splits pi in three (z = x is exact here: the other tests' w x - phi takes one
    rounding more there, as float arithmetic without them must)."""
    ext = build(cpu_fourier.NATIVE, variant)
    x = torch.cat([torch.linspace(-8191.5, 8191.5, 400_001), torch.linspace(-7.0, 7.0, 1_400_001)])
    params = [torch.zeros(1), torch.ones(1), torch.ones(1), torch.zeros(1)]
    y = ext.fourier_forward(x, *params)
    torch.testing.assert_close(y.double(), torch.cos(x.double()), rtol=0, atol=2.5e-7)
    dx = ext.fourier_backward(x, torch.ones_like(x), *params)[0]
    torch.testing.assert_close(dx.double(), -torch.sin(x.double()), rtol=0, atol=2.5e-7)


@pytest.mark.parametrize("variant", VARIANTS)
def test_fourier_arguments_beyond_the_exact_range(variant):
    """Inputs with |w x - phi| > 8192 anywhere in a work item send that item to the C
    library's sin and cos: still the formula (for the float32 argument the kernel
    forms), in an item of large inputs and in one with a single large input. Up to 1e8:
    past 2^22 pi the vector path's rounding of z / pi fails outright (below that, with
    fused multiply-adds, its reduction stays close, so only such inputs show that the
    item really was redone)."""
    ext = build(cpu_fourier.NATIVE, variant)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3 * 16384, generator=gen) * 2
    x[:16384] = torch.linspace(-1e8, 1e8, 16384)  # the first item: all large
    x[20000] = 5e7  # the second: one large input among small ones; the third: none
    dy = torch.randn(x.shape, generator=gen)
    params = random_params(3, seed=4)
    y, grads, _, _ = kernel_and_formula(ext, x, dy, params)
    # The formula at the float32 argument w x - phi rounded once (as a fused multiply-add):
    # at |z| ~ 1e8 one float32 step of z is 8, so that is the only argument to compare at.
    a0, a, w, phi = (p.double() for p in params)
    z = (x.double().unsqueeze(-1) * w - phi).float().double()
    factorials = torch.tensor([1.0, 2.0, 6.0], dtype=torch.float64)
    torch.testing.assert_close(y.double(), a0 + (torch.cos(z) * a / factorials).sum(-1), rtol=1e-6, atol=1e-6)
    dx_want = dy.double() * (-torch.sin(z) * a * w / factorials).sum(-1)
    torch.testing.assert_close(grads[0].double(), dx_want, rtol=1e-5, atol=1e-5)
    g_phi_want = (dy.double().unsqueeze(-1) * torch.sin(z)).sum(0) * a / factorials
    torch.testing.assert_close(grads[4].double(), g_phi_want, rtol=1e-4, atol=1e-3)


def test_fourier_kernel_with_inf_and_nan_inputs_matches_the_reference():
    """cos of an infinite argument is NaN, so y and dx are NaN there, as the reference's."""
    ref = A.create("fourier", degree=3, impl="reference")
    fast = A.create("fourier", degree=3, impl="fused")
    x = torch.tensor([0.5, math.inf, -math.inf, math.nan] + [1.0] * 28)
    torch.testing.assert_close(fast(x), ref(x), equal_nan=True)
    xr, xf = x.clone().requires_grad_(), x.clone().requires_grad_()
    (g_ref,) = torch.autograd.grad(ref(xr).sum(), [xr])
    (g_fast,) = torch.autograd.grad(fast(xf).sum(), [xf])
    torch.testing.assert_close(g_fast, g_ref, equal_nan=True)


def test_float32_units_take_the_extension(monkeypatch):
    unit = A.create("fourier", degree=5)
    assert ops_sent_to(cpu_fourier.NATIVE, monkeypatch, unit, torch.randn(2, 3, 8, 8)) == ["fourier"]


@pytest.mark.parametrize("dtype,degree", [(torch.float64, 5), (torch.bfloat16, 3), (torch.float32, 9)])
def test_inputs_the_extension_does_not_take_run_the_compiled_kernel(dtype, degree, monkeypatch):
    """Other dtypes and degrees above 8 run fused.cpu's torch.compile kernel, which
    still matches the reference."""
    assert_compiled_kernel_serves(monkeypatch, "fourier", dtype, degree=degree)
