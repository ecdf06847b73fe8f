"""The C++ tropical kernels (csrc/tropical.cpp) behind the fused units on the CPU.

They are held to the paper's functions written here in float64 (arXiv 2502.01247),
    tropical rational:  y = max_k (p_k x + c_k) - max_k (q_k x + d_k),
    tropical:           y = sqrt(2) / d max_k (k x + c_k),   k = 0..d,
each maximum taken over an explicit list of lines and differentiated by autograd, for
every degree they take, in both vector builds; the envelopes found are checked where
lines are parallel, never win, or tie; and the units are checked to take them for float32
and the torch.compile kernels for the rest.
"""
import math

import pytest
import torch

import suite.activations as A
from native_builds import (VARIANTS, assert_compiled_kernel_serves, build,
                           check_against_formula, needs_compiler, ops_sent_to)
from suite.activations.fused import cpu_tropical

pytestmark = needs_compiler


def tropical_rational(x, pn, cn, pd, cd):
    numerator = torch.stack([pn[k] * x + cn[k] for k in range(pn.shape[0])]).amax(0)
    denominator = torch.stack([pd[k] * x + cd[k] for k in range(pd.shape[0])]).amax(0)
    return numerator - denominator


def tropical(x, c):
    d = c.shape[0] - 1
    return math.sqrt(2) / d * torch.stack([k * x + c[k] for k in range(d + 1)]).amax(0)


RATIONAL_NAMES = ["x", "powers_num", "coefficients_num", "powers_denom", "coefficients_denom"]


def test_tropical_extension_builds():
    """Without this a failed build would pass unnoticed: the fallback is the compiled kernel."""
    assert cpu_tropical.NATIVE.get() is not None
    assert cpu_tropical.NATIVE.get().max_degree() == cpu_tropical.MAX_DEGREE


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("degree", range(1, cpu_tropical.MAX_DEGREE + 1))
def test_tropical_rational_kernel_against_the_formula(variant, degree):
    ext = build(cpu_tropical.NATIVE, variant)
    gen = torch.Generator().manual_seed(degree)
    # two full work items and a partial vector; inputs far out, where one line wins each side
    x = torch.randn(2 * 16384 + 11, generator=gen) * 3
    x[:2] = torch.tensor([60.0, -60.0])
    dy = torch.randn(x.shape, generator=gen)
    params = [torch.randn(degree + 1, generator=gen) for _ in range(4)]
    check_against_formula(ext.tropical_rational_forward, ext.tropical_rational_backward, tropical_rational, x, dy,
                          params, RATIONAL_NAMES)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("degree", range(1, cpu_tropical.MAX_DEGREE + 1))
def test_tropical_kernel_against_the_formula(variant, degree):
    """Random coefficients (some lines never reach the maximum) and the unit's initial
    c = 1, where every line meets at 0: off that point one line wins each side."""
    ext = build(cpu_tropical.NATIVE, variant)
    gen = torch.Generator().manual_seed(degree)
    x = torch.randn(2 * 16384 + 11, generator=gen) * 3
    x[:2] = torch.tensor([60.0, -60.0])
    x[x == 0] = 1e-3
    dy = torch.randn(x.shape, generator=gen)
    for c in (torch.randn(degree + 1, generator=gen) * 2, torch.ones(degree + 1)):
        check_against_formula(ext.tropical_forward, ext.tropical_backward, tropical, x, dy, [c], ["x", "coefficients"])


def test_tropical_tie_at_a_kink_goes_to_the_first_line():
    """At c = 1 all lines meet at x = 0: as in the compiled kernel, line 0 (slope 0) takes
    the gradient there, so dx = 0 and dc_0 gets dy."""
    ext = cpu_tropical.NATIVE.get()
    x, dy = torch.zeros(37), torch.ones(37)
    dx, dc = ext.tropical_backward(x, dy, torch.ones(6))
    assert torch.equal(dx, torch.zeros(37))
    torch.testing.assert_close(dc, torch.tensor([37.0, 0, 0, 0, 0, 0]) * math.sqrt(2) / 5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_envelopes_with_parallel_dominated_and_tied_lines(variant):
    """Equal slopes (the higher line wins everywhere), a line that never reaches the
    maximum, and lines listed out of slope order: the breakpoints the kernel derives must
    hand every gradient to the line the formula's maximum picks."""
    ext = build(cpu_tropical.NATIVE, variant)
    pn = torch.tensor([1.0, -1.0, 1.0, 0.0])  # lines 0 and 2 parallel (2 is higher); out of order
    cn = torch.tensor([0.0, 0.0, 0.5, -5.0])  # line 3 (slope 0, far below) never wins
    pd = torch.tensor([0.5, 0.5, 2.0, -2.0])
    cd = torch.tensor([1.0, 1.0, -3.0, -3.0])  # lines 0 and 1 identical: the first takes the gradient
    x = torch.linspace(-6, 6, 1001) + 1e-3  # off the kinks, where the formula's gradient is defined
    dy = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    grads = ext.tropical_rational_backward(x, dy, pn, cn, pd, cd)
    assert grads[1][3] == 0 and grads[2][3] == 0  # the dominated line
    assert grads[1][0] == 0 and grads[2][0] == 0  # the lower of two parallel lines
    assert grads[4][1] == 0 and grads[4][0] != 0  # of two identical lines, the first
    # with the identical pair split as autograd's amax splits it, the rest is the formula's
    y = ext.tropical_rational_forward(x, pn, cn, pd, cd)
    x64 = x.double().requires_grad_()
    params64 = [p.double().requires_grad_() for p in (pn, cn, pd, cd)]
    y64 = tropical_rational(x64, *params64)
    want = torch.autograd.grad(y64, [x64, *params64], dy.double())
    torch.testing.assert_close(y.double(), y64.detach(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grads[0].double(), want[0], rtol=1e-5, atol=1e-5)
    for got, expected in zip(grads[1:3], want[1:3]):
        torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-4)
    for got, expected in zip(grads[3:], want[3:]):  # identical lines 0 and 1: compare their total
        assert got[0] + got[1] == pytest.approx((expected[0] + expected[1]).item(), rel=1e-4, abs=1e-4)
        torch.testing.assert_close(got[2:].double(), expected[2:], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["tropical", "tropical_rational"])
def test_float32_units_take_the_extension(name, monkeypatch):
    assert ops_sent_to(cpu_tropical.NATIVE, monkeypatch, A.create(name, degree=5), torch.randn(2, 3, 8, 8)) == [name]


@pytest.mark.parametrize("name", ["tropical", "tropical_rational"])
@pytest.mark.parametrize("dtype,degree", [(torch.float64, 5), (torch.bfloat16, 5), (torch.float32, 9)])
def test_inputs_the_extension_does_not_take_run_the_compiled_kernel(name, dtype, degree, monkeypatch):
    assert_compiled_kernel_serves(monkeypatch, name, dtype, degree=degree)
