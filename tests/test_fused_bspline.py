"""The C++ B-spline kernel (csrc/bspline.cpp) behind the fused KAN B-spline on the CPU.

The kernel is held to a formula written here in float64 and differentiated by autograd:
each basis function as the truncated-power form of the uniform B-spline,
    B_i(x) = sum_{m=0..k+1} (-1)^m C(k+1, m) ((x - t_{i+m}) / h)_+^k / k!,
which shares nothing with the kernel's per-interval polynomials or the module's Cox-de
Boor recursion. Both vector builds are tested where the machine has AVX-512.
"""
import math

import pytest
import torch

import suite.activations as A
from native_builds import VARIANTS as BUILDS, assert_gradients_close, needs_compiler, ops_sent_to
from native_builds import build as build_variant
from suite.activations.fused import cpu_bspline

pytestmark = needs_compiler


def build(variant):
    return build_variant(cpu_bspline.NATIVE, variant)


def test_bspline_extension_builds():
    """Without this, a failed build would pass unnoticed: the fallback is the compiled math."""
    assert cpu_bspline.NATIVE.get() is not None


def truncated_power_basis(x, knots, order):
    """[..., G + k] basis values at x (float64), from the truncated powers at the knots.

    The powers are taken at exactly uniform knots (float64, from the float32 ends), where
    their alternating sum cancels far from t_i; x at a float32 knot is put exactly on it
    (z = 0, with the right side's slope: intervals are half open), and B_i is 0 outside [t_i, t_{i+k+1}) by the float32 knots, so a jump sits
    where the module's comparisons put it."""
    count = knots.numel() - order - 1
    h = (knots[-1] - knots[0]) / (knots.numel() - 1)
    uniform = knots[0] + h * torch.arange(knots.numel(), dtype=torch.float64)
    columns = []
    for i in range(count):
        total = torch.zeros_like(x)
        for m in range(order + 2):
            z = (x - uniform[i + m]) / h
            # exactly 0 at the float32 knot, with the slope 1 / h kept (the right side's)
            z = z - torch.where(x == knots[i + m], z.detach(), torch.zeros_like(z))
            # z_+^k, with 0^0 = 1: the basis is 1 on [t_i, t_{i+1}) at order 0 (half open)
            power = torch.where(z >= 0, z, torch.zeros_like(z)) ** order if order else (z >= 0).to(x.dtype)
            total = total + (-1) ** m * math.comb(order + 1, m) * power
        support = (x >= knots[i]) & (x < knots[i + order + 1])
        columns.append(torch.where(support, total / math.factorial(order), torch.zeros_like(x)))
    return torch.stack(columns, dim=-1)


def formula(x, coefficients, base_weight, spline_weight, knots, order, channels):
    """w_b silu(x) + w_s sum_i c_i B_i(x); per-channel parameters along dim 1."""
    basis = truncated_power_basis(x, knots, order)  # x.shape + [G + k]
    view = [1] * x.dim()
    if channels > 1:
        view[1] = channels
    c = coefficients.reshape(*view, -1) if channels > 1 else coefficients[0]
    spline = (basis * c).sum(-1)
    return base_weight.reshape(view) * x * torch.sigmoid(x) + spline_weight.reshape(view) * spline


KERNEL_CASES = [  # shape, channels, order, grid size
    ((4, 3, 40001), 1, 3, 5),  # per layer; one row of many work items, a padded tail
    ((2, 3, 16385), 3, 3, 5),  # per channel; rows of two work items
    ((3, 2, 9, 7), 2, 2, 4),
    ((5, 4, 33), 4, 1, 6),
    ((6, 3, 21), 1, 0, 5),
    ((2, 2, 999), 1, 3, 20),  # 26 intervals: AVX-512 only (AVX tables hold 14)
]


@pytest.mark.parametrize("variant", BUILDS)
@pytest.mark.parametrize("shape,channels,order,grid", KERNEL_CASES, ids=[f"{c[0]}-C{c[1]}-k{c[2]}-G{c[3]}" for c in KERNEL_CASES])
def test_bspline_kernel_against_the_formula(variant, shape, channels, order, grid):
    ext = build(variant)
    gen = torch.Generator().manual_seed(order * 10 + grid)
    module = A.create("bspline", grid_size=grid, spline_order=order, channels=channels if channels > 1 else None)
    knots = module.knots
    length = channels
    params = [torch.randn(length, grid + order, generator=gen), torch.randn(length, generator=gen) * 0.5 + 1,
              torch.randn(length, generator=gen) * 0.5 + 1]
    _, max_intervals = ext.limits()
    if knots.numel() - 1 > max_intervals:  # this build's tables are too small: a clear refusal
        with pytest.raises(RuntimeError, match="intervals is not supported"):
            ext.bspline_forward(torch.randn(shape), *params, knots, channels, order)
        return
    x = torch.randn(shape, generator=gen) * 3
    flat = x.view(-1)
    flat[: knots.numel()] = knots  # exactly at every knot, where orders 0 and 1 jump
    flat[knots.numel(): knots.numel() + 3] = torch.tensor([50.0, -50.0, 0.0])
    dy = torch.randn(shape, generator=gen)

    y = ext.bspline_forward(x, *params, knots, channels, order)
    dx, *param_grads, d_knots = ext.bspline_backward(x, dy, *params, knots, channels, order)

    x64 = x.double().requires_grad_()
    params64 = [p.double().requires_grad_() for p in params]
    y64 = formula(x64, *params64, knots.double(), order, channels)
    grads = torch.autograd.grad(y64, [x64, *params64], dy.double())
    scale = 1 + y64.abs().max().item()
    torch.testing.assert_close(y.double(), y64.detach(), rtol=2e-6, atol=2e-6 * scale)
    slope_scale = 1 + grads[0].abs().max().item()
    torch.testing.assert_close(dx.double(), grads[0], rtol=2e-5, atol=2e-5 * slope_scale)
    assert_gradients_close(["coefficients", "base_weight", "spline_weight"], param_grads, grads[1:], rtol=1e-4)
    assert torch.equal(d_knots, torch.zeros_like(knots))


@pytest.mark.parametrize("variant", BUILDS)
@pytest.mark.parametrize("order", [0, 1, 3])
def test_bspline_kernel_at_infinities_and_nan(variant, order):
    """Outside the knots only the SiLU branch is left: +inf gives inf (the spline's zero
    polynomial meets no inf), NaN gives NaN, and neither adds to the spline's gradients."""
    ext = build(variant)
    module = A.create("bspline", spline_order=order)
    c = torch.randn(1, 5 + order)
    one = torch.ones(1)
    x = torch.tensor([math.inf, math.nan, 1e30, -1e30] + [0.5] * 12)
    y = ext.bspline_forward(x, c, one, one, module.knots, 1, order)
    assert y[0] == math.inf and y[1].isnan() and y[2] == 1e30 and y[3] == 0
    dy = torch.zeros_like(x)
    dy[:4] = 1.0
    _, g_c, _, _, _ = ext.bspline_backward(x, dy, c, one, one, module.knots, 1, order)
    assert torch.equal(g_c, torch.zeros_like(c))


def test_bspline_units_take_the_extension_for_float32(monkeypatch):
    for params in ({}, {"channels": 3, "spline_order": 2}):
        unit = A.create("bspline", impl="fused", **params)
        assert ops_sent_to(cpu_bspline.NATIVE, monkeypatch, unit, torch.randn(2, 3, 5, 5)) == ["bspline"], params


FALLBACKS = [(torch.float64, {}), (torch.bfloat16, {}), (torch.float32, {"spline_order": 4}),
             (torch.float32, {"grid_size": 40})]


@pytest.mark.parametrize("dtype,params", FALLBACKS, ids=[f"{str(d)[6:]}-{p}" for d, p in FALLBACKS])
def test_inputs_the_extension_does_not_take_run_the_compiled_kernel(dtype, params, monkeypatch):
    """Other dtypes, orders above 3 and grids beyond the vector tables: the compiled
    kernel of fused.cpu, still equal to the reference."""
    monkeypatch.setattr(cpu_bspline.NATIVE, "apply", lambda *a, **k: pytest.fail("extension used"))
    ref = A.create("bspline", impl="reference", **params).to(dtype)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.3 * torch.randn_like(p))
    fast = A.create("bspline", impl="fused", **params).to(dtype)
    fast.load_state_dict(ref.state_dict())
    x = (torch.randn(2, 3, 6, 6) * 2).to(dtype).requires_grad_()
    tol = 2e-2 if dtype == torch.bfloat16 else 1e-5
    torch.testing.assert_close(fast(x), ref(x), rtol=tol, atol=tol)
