"""The C++ sigmoid-gate kernels (csrc/gated.cpp) behind fused Swish-beta, ACON-C,
Meta-ACON, Sqish and APALU on the CPU.

The kernels are held to the family's formula written here in float64, y = x (A + B
sigmoid(K x + D)) and APALU's two branches, differentiated by autograd; test_fused.py
holds each unit's fused path to its module's reference as well. Both vector code paths
are tested where the machine has AVX-512: its own build and one without AVX-512 (the
exp and the sums differ between them).
"""
import math

import numpy as np
import pytest
import torch

import suite.activations as A
from native_builds import VARIANTS as BUILDS, assert_gradients_close, needs_compiler, ops_sent_to
from native_builds import build as build_variant
from suite.activations.fused import cpu_gated

pytestmark = needs_compiler


def build(variant):
    return build_variant(cpu_gated.NATIVE, variant)


def test_gated_extension_builds():
    """Without this, a failed build would pass unnoticed: the fallback is the compiled math."""
    assert cpu_gated.NATIVE.get() is not None


def family(x, a, b, k, d):
    return x * (a + b / (1 + torch.exp(-(k * x + d))))


def per_row(values, rows, channels, inner):
    """[rows, 1] view of a parameter of length 1, C or rows (row = sample * C + channel)."""
    n = values.shape[0]
    full = values.expand(rows) if n == 1 else values.repeat(rows // n) if n == channels else values
    return full.reshape(rows, 1)


GATED_CASES = [  # shape, channels, lengths of A, B, K, D (1, "C" or "rows")
    ((1001,), 1, (1, 1, 1, 1)),
    ((2, 3, 2 * 16384 + 5), 3, ("C", "C", "C", 1)),  # rows of three work items, the last with a tail
    ((5, 4, 7, 9), 4, ("C", 1, "rows", "C")),  # per-sample K, as Meta-ACON's
    ((3, 2, 16), 2, ("rows", "rows", "rows", "rows")),
]


@pytest.mark.parametrize("variant", BUILDS)
@pytest.mark.parametrize("shape,channels,lengths", GATED_CASES, ids=[str(c[0]) for c in GATED_CASES])
def test_gated_kernel_against_the_formula(variant, shape, channels, lengths):
    ext = build(variant)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen) * 3
    x.view(-1)[:3] = torch.tensor([0.0, 30.0, -30.0])
    rows = 1 if channels == 1 else shape[0] * channels
    inner = x.numel() // rows
    sizes = {1: 1, "C": channels, "rows": rows}
    params = [torch.randn(sizes[n], generator=gen) * s + o
              for n, s, o in zip(lengths, (0.3, 0.5, 0.7, 0.4), (0.2, 0.9, 1.2, 0.0))]
    dy = torch.randn(shape, generator=gen)

    y = ext.gated_forward(x, *params, channels)
    dx, *param_grads = ext.gated_backward(x, dy, *params, channels)

    x64 = x.double().requires_grad_()
    params64 = [p.double().requires_grad_() for p in params]
    rows64 = [per_row(p, rows, channels, inner) for p in params64]
    y64 = family(x64.reshape(rows, inner), *rows64).reshape(shape)
    grads = torch.autograd.grad(y64, [x64, *params64], dy.double())
    torch.testing.assert_close(y.double(), y64.detach(), rtol=2e-6, atol=1e-6)
    torch.testing.assert_close(dx.double(), grads[0], rtol=2e-5, atol=2e-5)
    assert_gradients_close(list("ABKD"), param_grads, grads[1:], rtol=1e-4)


@pytest.mark.parametrize("variant", BUILDS)
def test_gated_exp_over_the_whole_float_range(variant):
    """Swish (A=0, B=K=1, D=0) through the kernel's own exp, to the extremes: where e^-z
    overflows or underflows, at +-inf and NaN."""
    ext = build(variant)
    x = torch.cat([torch.linspace(-120, 120, 240_001), torch.tensor([-1e30, 1e30, 0.0, -0.0])])
    one, zero = torch.ones(1), torch.zeros(1)
    y = ext.gated_forward(x, zero, one, one, zero, 1)
    want = x.double() * torch.sigmoid(x.double())
    torch.testing.assert_close(y.double(), want, rtol=4e-7, atol=1e-30)
    special = torch.tensor([math.inf, -math.inf, math.nan] + [0.5] * 13)
    out = ext.gated_forward(special, zero, one, one, zero, 1)
    assert out[0] == math.inf and out[2].isnan()  # -inf * sigmoid(-inf) is -inf * 0: NaN, as torch's
    assert out[1].isnan() == (-math.inf * torch.sigmoid(torch.tensor(-math.inf))).isnan()


@pytest.mark.parametrize("variant", BUILDS)
def test_kernel_exp_is_within_one_ulp(variant):
    """The exp behind every kernel here, against float64's, in units of float32's spacing
    at the true value: over the whole range where e^x is a normal float, and densely where
    activations' inputs live."""
    ext = build(variant)
    gen = torch.Generator().manual_seed(2)
    x = torch.cat([torch.empty(1_000_000).uniform_(-87.0, 88.0, generator=gen), torch.linspace(-4, 4, 400_001)])
    want = torch.exp(x.double())
    spacing = torch.from_numpy(np.spacing(want.float().numpy())).double()
    ulps = ((ext.exp(x).double() - want).abs() / spacing).max().item()
    assert ulps <= 1.0, f"{ulps:.2f} ulp"
    edges = ext.exp(torch.tensor([math.inf, -math.inf, math.nan, 100.0, -110.0] + [0.0] * 11))
    assert edges[0] == math.inf and edges[1] == 0 and edges[2].isnan() and edges[3] == math.inf and edges[4] == 0


def apalu_formula(x, a, b):
    return torch.where(x >= 0, a * (x + x * torch.sigmoid(1.702 * x)), b * torch.expm1(torch.clamp(x, max=0)))


@pytest.mark.parametrize("variant", BUILDS)
def test_apalu_kernel_against_the_formula(variant):
    ext = build(variant)
    gen = torch.Generator().manual_seed(1)
    x = torch.cat([torch.randn(50_003, generator=gen) * 4, torch.tensor([0.0, -0.0, 90.0, -90.0])])
    dy = torch.randn(x.shape, generator=gen)
    a, b = 0.7, 0.15
    a_t, b_t = torch.tensor([a]), torch.tensor([b])  # the kernel's parameters: float32 [1]
    y = ext.apalu_forward(x, a_t, b_t)
    dx, g_a_kernel, g_b_kernel = ext.apalu_backward(x, dy, a_t, b_t)
    x64 = x.double().requires_grad_()
    a64, b64 = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, b))
    y64 = apalu_formula(x64, a64, b64)
    g_x, g_a, g_b = torch.autograd.grad(y64, [x64, a64, b64], dy.double())
    torch.testing.assert_close(y.double(), y64.detach(), rtol=2e-6, atol=1e-6)
    torch.testing.assert_close(dx.double(), g_x, rtol=2e-5, atol=2e-5)
    torch.testing.assert_close(torch.cat([g_a_kernel, g_b_kernel]).double(), torch.stack([g_a, g_b]), rtol=1e-5, atol=1e-3)


GATED_UNITS = [("swish_beta", {}), ("swish_beta", {"channels": 3}), ("acon_c", {"channels": 3}),
               ("meta_acon", {"channels": 3}), ("sqish", {"channels": 3, "beta": 2.0}), ("apalu", {})]


def random_pair(name, params, dtype=torch.float32):
    ref = A.create(name, impl="reference", **params).to(dtype)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.2 * torch.randn_like(p))
    fast = A.create(name, impl="fused", **params).to(dtype)
    fast.load_state_dict(ref.state_dict())
    return ref, fast


@pytest.mark.parametrize("name,params", GATED_UNITS, ids=[f"{n}-{p}" for n, p in GATED_UNITS])
def test_units_take_the_extension_for_float32_images(name, params, monkeypatch):
    _, fast = random_pair(name, params)
    op = "apalu" if name == "apalu" else "gated"  # the other four share one kernel, x (A + B sigmoid(K x + D))
    assert ops_sent_to(cpu_gated.NATIVE, monkeypatch, fast, torch.randn(2, 3, 5, 5)) == [op]


FALLBACK_INPUTS = [(torch.bfloat16, (2, 3, 8, 8)), (torch.float32, (6, 3))]
FALLBACK_CASES = [(name, params, dtype, shape) for name, params in GATED_UNITS for dtype, shape in FALLBACK_INPUTS
                  if not (name == "apalu" and len(shape) == 2)]  # APALU is per layer: any shape is one row


@pytest.mark.parametrize("name,params,dtype,shape", FALLBACK_CASES,
                         ids=[f"{n}-{p}-{str(d)[6:]}-{len(s)}d" for n, p, d, s in FALLBACK_CASES])
def test_inputs_the_extension_does_not_take_still_match_the_reference(name, params, dtype, shape):
    """Other dtypes and rows shorter than a vector run the compiled kernels of fused.cpu."""
    if name == "meta_acon" and len(shape) == 2:
        shape = (6, 3, 1, 1)  # the switch pools over spatial dimensions: rows of one element
    ref, fast = random_pair(name, params, dtype)
    x = (torch.randn(shape) * 2).to(dtype).requires_grad_()
    dy = torch.randn_like(x)
    tol = {"rtol": 2e-2, "atol": 2e-2} if dtype == torch.bfloat16 else {"rtol": 1e-5, "atol": 1e-5}
    y_ref, y_fast = ref(x), fast(x)
    torch.testing.assert_close(y_fast, y_ref, **tol)
    g_ref = torch.autograd.grad(y_ref, [x, *ref.parameters()], dy)
    g_fast = torch.autograd.grad(y_fast, [x, *fast.parameters()], dy)
    for a, b in zip(g_fast, g_ref):
        scale = 1 + b.abs().max().item()
        torch.testing.assert_close(a, b, rtol=tol["rtol"] * 5, atol=tol["atol"] * 5 * scale)


def test_meta_acon_step_holds_only_y_and_dx():
    """The switch pools x over its spatial dimensions. The pooling's backward must hand dx
    a broadcast of the pooled gradient, not write a third input-sized tensor (as mean's
    backward does: 3.0 input sizes at the peak instead of 2.0, and 1.2 ms of a 3 ms step
    at 3.2M elements)."""
    from suite.bench import measure

    unit = A.create("meta_acon", channels=16, impl="fused")
    x = torch.randn(8, 16, 64, 64, requires_grad=True)
    dy = torch.randn_like(x)
    inputs = [x, *unit.parameters()]
    step = lambda: torch.autograd.grad(unit(x), inputs, dy)  # noqa: E731
    step()
    peak = measure.peak_memory_bytes(step, x.device)
    if peak is None:
        pytest.skip("this torch's profiler reports no CPU allocations")
    assert peak < 2.1 * x.nbytes, f"peak {peak / x.nbytes:.2f} input sizes"
