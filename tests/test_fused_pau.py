"""The C++ PAU kernel (csrc/pau.cpp) behind the fused Padé Activation Unit on the CPU.

It is held to both versions written here in float64 from powers of x,
    A: y = (a_0 + ... + a_m x^m) / (1 + |b_1| |x| + ... + |b_n| |x|^n)   (the authors' code,
       ml-research/pau pau/cuda/python_imp/Pade.py @ c122738, PADEACTIVATION_F_python)
    B: y = (a_0 + ... + a_m x^m) / (1 + |b_1 x + ... + b_n x^n|)         (arXiv 1907.06732),
differentiated by autograd, in value and in every gradient, for every degree pair it
takes, in both vector builds; and the unit is checked to take it for float32 and the
torch.compile kernel for other dtypes and degrees.
"""
import pytest
import torch

import suite.activations as A
from native_builds import (VARIANTS, assert_compiled_kernel_serves, assert_gradients_close,
                           build, needs_compiler, ops_sent_to)
from suite.activations.fused import cpu_pau

pytestmark = needs_compiler

DEGREES = [(m, n) for m in range(1, cpu_pau.MAX_NUMERATOR + 1) for n in range(1, cpu_pau.MAX_DENOMINATOR + 1)]


def safe_pau(x, a, b):
    numerator = sum(a[k] * x**k for k in range(a.shape[0]))
    r = sum(b[k - 1] * x**k for k in range(1, b.shape[0] + 1))
    return numerator / (1 + r.abs())


def authors_pau(x, a, b):
    numerator = sum(a[k] * x**k for k in range(a.shape[0]))
    return numerator / (1 + sum(b[k - 1].abs() * x.abs() ** k for k in range(1, b.shape[0] + 1)))


FORMS = {"pau": safe_pau, "pau_a": authors_pau}


def test_pau_extension_builds():
    """Without this a failed build would pass unnoticed: the fallback is the compiled kernel."""
    assert cpu_pau.NATIVE.get() is not None
    assert tuple(cpu_pau.NATIVE.get().max_degrees()) == (cpu_pau.MAX_NUMERATOR, cpu_pau.MAX_DENOMINATOR)


@pytest.mark.parametrize("op", sorted(FORMS))
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("m,n", DEGREES, ids=[f"{m}-{n}" for m, n in DEGREES])
def test_pau_kernel_against_the_formula(variant, m, n, op):
    ext = build(cpu_pau.NATIVE, variant)
    gen = torch.Generator().manual_seed(10 * m + n)
    # two full work items and a partial vector; x = 0 (where r = 0 and sign(r) = 0) included
    x = torch.randn(2 * 16384 + 11, generator=gen) * 1.5
    x[:2] = torch.tensor([0.0, -0.0])
    dy = torch.randn(x.shape, generator=gen)
    a = torch.randn(m + 1, generator=gen) * 0.5
    b = torch.randn(n, generator=gen) * 0.5
    y = getattr(ext, f"{op}_forward")(x, a, b)
    grads = getattr(ext, f"{op}_backward")(x, dy, a, b)
    x64, a64, b64 = (t.double().requires_grad_() for t in (x, a, b))
    y64 = FORMS[op](x64, a64, b64)
    want = torch.autograd.grad(y64, [x64, a64, b64], dy.double())
    scale = 1 + y64.abs().max().item()
    torch.testing.assert_close(y.double(), y64.detach(), rtol=1e-5, atol=1e-6 * scale)
    assert_gradients_close(["x", "numerator", "denominator"], grads, want)


def test_pau_gradient_where_the_denominator_polynomial_is_zero():
    """|r| has gradient 0 at r = 0 (autograd's convention): at x = 0, where r = 0, dx is
    a_1 alone; with b_1 x + b_2 x^2 = 0 also at x = -b_1/b_2, the numerator's derivative."""
    ext = cpu_pau.NATIVE.get()
    a = torch.tensor([0.1, 0.7, 0.2])
    b = torch.tensor([0.5, 0.25])  # r = 0.5 x + 0.25 x^2 = 0 at x = 0 and x = -2
    x = torch.tensor([0.0, -2.0] + [1.0] * 14)
    dx = ext.pau_backward(x, torch.ones_like(x), a, b)[0]
    assert dx[0].item() == pytest.approx(0.7)
    assert dx[1].item() == pytest.approx(0.7 + 2 * 0.2 * -2.0)


@pytest.mark.parametrize("version,op", [("A", "pau_a"), ("B", "pau")])
def test_float32_units_take_the_extension(monkeypatch, version, op):
    unit = A.create("pau", version=version)
    assert ops_sent_to(cpu_pau.NATIVE, monkeypatch, unit, torch.randn(2, 3, 8, 8)) == [op]


@pytest.mark.parametrize("version", ["A", "B"])
@pytest.mark.parametrize("dtype,degrees", [(torch.float64, (5, 4)), (torch.bfloat16, (5, 4)), (torch.float32, (7, 4))])
def test_inputs_the_extension_does_not_take_run_the_compiled_kernel(dtype, degrees, version, monkeypatch):
    m, n = degrees
    assert_compiled_kernel_serves(monkeypatch, "pau", dtype, numerator_degree=m, denominator_degree=n,
                                  version=version)
