"""Learnable activations of this area against formulas written from their papers."""
import numpy as np
import pytest
import torch

import suite.activations as acts
from suite.errors import SuiteError

D = torch.float64


def _x():
    torch.manual_seed(1)
    edges = torch.tensor([0.0, 1e-6, -1e-6, 1.0, -1.0, 30.0, -30.0], dtype=D)
    return torch.cat([torch.randn(200, dtype=D) * 3, edges])


def _randomise(module):
    """Move every parameter off its init, so formulas are checked at general values."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def _build(name, **kw):
    return _randomise(acts.create(name, impl="reference", **kw).to(D))


def _sig(z):
    return 1 / (1 + torch.exp(-z))


def _bspline_basis(x, knots, i, k):  # textbook Cox-de Boor, one basis function, recursive
    if k == 0:
        return ((x >= knots[i]) & (x < knots[i + 1])).to(x.dtype)
    left = (x - knots[i]) / (knots[i + k] - knots[i]) * _bspline_basis(x, knots, i, k - 1)
    right = (knots[i + k + 1] - x) / (knots[i + k + 1] - knots[i + 1]) * _bspline_basis(x, knots, i + 1, k - 1)
    return left + right


def _silu(x):
    return x * _sig(x)


FORMULAS = {
    "prelu": lambda m, x: torch.where(x > 0, x, m.weight * x),
    "swish_beta": lambda m, x: x * _sig(m.beta * x),
    "acon_c": lambda m, x: (m.p1 - m.p2) * x * _sig(m.beta * (m.p1 - m.p2) * x) + m.p2 * x,
    "sqish": lambda m, x: m.alpha * x + (1 - m.alpha) * x / (1 + m.beta * torch.exp(-2 * m.gamma * (1 - m.alpha) * x)),
    # a (x + x sigmoid(1.702 x)) for x >= 0, b (e^x - 1) below (formula of a public re-implementation)
    "apalu": lambda m, x: torch.where(x >= 0, m.a * (x + x / (1 + torch.exp(-1.702 * x))), m.b * (torch.exp(x) - 1)),
    # version A, the default: 1 + sum |b_k| |x|^k (the authors' code)
    "pau": lambda m, x: sum(a * x ** j for j, a in enumerate(m.numerator))
    / (1 + sum(torch.abs(b) * torch.abs(x) ** (j + 1) for j, b in enumerate(m.denominator))),
    "bspline": lambda m, x: m.base_weight * _silu(x) + m.spline_weight * sum(
        c * _bspline_basis(x, m.knots.to(D), i, m.spline_order) for i, c in enumerate(m.coefficients[0])),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_matches_paper_formula_at_random_parameters(name):
    m, x = _build(name), _x()
    expected = torch.nan_to_num(FORMULAS[name](m, x), nan=0.0)  # exp overflow -> 0 limit
    torch.testing.assert_close(m(x), expected, rtol=1e-10, atol=1e-10)


def test_meta_acon_matches_formula():
    m, x = _build("meta_acon", channels=4), torch.randn(2, 4, 3, 3, dtype=D)
    pooled = x.mean(dim=(2, 3), keepdim=True)
    # the authors' MetaAconC: a BatchNorm after each 1x1 convolution (batch statistics in training)
    bn1 = torch.nn.functional.batch_norm(m.fc1(pooled), None, None, m.bn1.weight, m.bn1.bias, training=True)
    beta = _sig(torch.nn.functional.batch_norm(m.fc2(bn1), None, None, m.bn2.weight, m.bn2.bias, training=True))
    p1, p2 = m.p1.view(1, 4, 1, 1), m.p2.view(1, 4, 1, 1)
    expected = (p1 - p2) * x * _sig(beta * (p1 - p2) * x) + p2 * x
    torch.testing.assert_close(m(x), expected)


GRADCHECK = ["prelu", "swish_beta", "acon_c", "sqish", "apalu", "pau", "bspline"]


@pytest.mark.parametrize("name", GRADCHECK + ["meta_acon"])
def test_gradcheck_input_and_parameters(name):
    kw = {"channels": 3} if name == "meta_acon" else {}
    m = _build(name, **kw)
    torch.manual_seed(3)
    x = torch.randn(2, 3, 2, 2, dtype=D)
    x = torch.where(x.abs() < 0.05, x + 0.1, x).requires_grad_()  # away from kinks at 0
    params = [p for p in m.parameters()]
    names = [n for n, _ in m.named_parameters()]

    def f(x, *ps):
        return torch.func.functional_call(m, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params))


@pytest.mark.parametrize("name", GRADCHECK + ["meta_acon"])
def test_state_dict_round_trip(name):
    kw = {"channels": 3} if name in ("meta_acon", "prelu") else {}
    a, b = _build(name, **kw), acts.create(name, impl="reference", **kw).to(D)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 4, 4, dtype=D)
    assert torch.equal(a(x), b(x))


@pytest.mark.parametrize("name", ["prelu", "swish_beta", "acon_c", "sqish", "bspline"])
def test_per_channel_broadcasts_and_rejects_mismatch(name):
    m = _build(name, channels=3)
    x = torch.randn(2, 3, 4, 5, dtype=D)
    y = m(x)
    for c in range(3):  # channel c uses exactly the per-layer module with channel c's params
        single = acts.create(name, impl="reference").to(D)
        single.load_state_dict({k: (v[c:c + 1] if v.shape[:1] == (3,) else v) for k, v in m.state_dict().items()})
        torch.testing.assert_close(y[:, c], single(x[:, c]))
    with pytest.raises(SuiteError, match="channels"):
        m(torch.randn(2, 4, 4, 5, dtype=D))


@pytest.mark.parametrize("version", ["A", "B"])
def test_pau_initial_fit_is_close_to_leaky_relu(version):
    # A smooth degree-(5, 4) rational cannot follow the kink at 0: the authors' fit (used
    # for both versions) is 0.034 off at x=0, its RMS on [-3, 3] 0.0056. Bounds sit well
    # above those figures, tight enough to catch a wrong init or another target.
    m = acts.create("pau", impl="reference", version=version).to(D)
    x = torch.linspace(-3, 3, 601, dtype=D)
    err = (m(x).detach() - torch.where(x >= 0, x, 0.01 * x)).abs()
    assert err.max() < 0.08
    assert err[x.abs() > 0.5].max() < 0.02
    assert err.square().mean().sqrt() < 0.015
    assert (m(x).detach() - torch.relu(x)).abs()[x < -1].max() < 0.05  # near-zero left branch


def test_bspline_starts_as_silu():
    m = acts.create("bspline", impl="reference")
    x = torch.linspace(-5, 5, 101)
    torch.testing.assert_close(m(x), torch.nn.functional.silu(x))


def test_bspline_basis_matches_scipy_and_sums_to_one_inside_the_grid():
    """Each basis function B_i equals scipy's BSpline on the same knots, and inside the
    grid range the k + 1 overlapping cubic pieces sum to 1 (partition of unity)."""
    from scipy.interpolate import BSpline

    m = acts.create("bspline", impl="reference").to(D)
    knots, k = m.knots.detach().reshape(-1).numpy(), m.spline_order
    n_basis = m.coefficients.shape[-1]
    assert len(knots) == n_basis + k + 1
    x = torch.linspace(-2.0, 2.0, 401, dtype=D)[:-1]  # grid_range (-2, 2), right end open
    with torch.no_grad():
        m.base_weight.zero_()
        m.spline_weight.fill_(1.0)
        total = torch.zeros_like(x)
        for i in range(n_basis):
            m.coefficients.zero_()
            m.coefficients.view(-1, n_basis)[:, i] = 1.0
            expected = BSpline(knots, np.eye(n_basis)[i], k, extrapolate=False)(x.numpy())
            torch.testing.assert_close(m(x), torch.from_numpy(np.nan_to_num(expected)), rtol=1e-10, atol=1e-12)
            total += m(x)
    scipy_sum = BSpline(knots, np.ones(n_basis), k, extrapolate=False)(x.numpy())
    np.testing.assert_allclose(scipy_sum, 1.0, atol=1e-12)
    torch.testing.assert_close(total, torch.ones_like(x), rtol=0, atol=1e-12)
