"""Tropical and tropical-rational activations (arXiv 2502.01247): formula, gradients,
torchortho parity on the same parameters, init shape, validation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import torchortho
from suite.activations import create
from suite.activations.tropical import Tropical, TropicalRational
from suite.errors import SuiteError

# points off the kinks of random parameters are the generic case; include 0 and large |x|
X = torch.cat([torch.randn(200, dtype=torch.float64) * 3, torch.tensor([0.0, 50.0, -50.0], dtype=torch.float64)])


def test_tropical_matches_formula_with_random_constants():
    m = Tropical(4, impl="reference").double()
    with torch.no_grad():
        m.coefficients.copy_(torch.randn(5, dtype=torch.float64))
    c = m.coefficients.detach().numpy()
    x = X.numpy()
    want = math.sqrt(2) / 4 * np.max([k * x + c[k] for k in range(5)], axis=0)
    np.testing.assert_allclose(m(X).detach().numpy(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("degree", [1, 5])
def test_tropical_at_init_is_scaled_relu_plus_constant(degree):
    y = Tropical(degree, impl="reference").double()(X)
    torch.testing.assert_close(y, math.sqrt(2) * F.relu(X) + math.sqrt(2) / degree)


def test_tropical_rational_matches_formula():
    torch.manual_seed(0)
    m = TropicalRational(3, impl="reference").double()
    p, c = m.powers_num.detach().numpy(), m.coefficients_num.detach().numpy()
    q, e = m.powers_denom.detach().numpy(), m.coefficients_denom.detach().numpy()
    x = X.numpy()[:, None]
    want = (x * p + c).max(1) - (x * q + e).max(1)
    np.testing.assert_allclose(m(X).detach().numpy(), want, rtol=1e-12, atol=1e-12)


def test_tropical_rational_init_has_unit_second_moment():
    """The init scales N(0,1) draws by one common factor so that E[y^2] = 1 under
    x ~ N(0,1) (y is positively homogeneous in its parameters). Oracle: a fine trapezoid
    integral of y^2 times the Gaussian density on [-14, 14]."""
    x = np.linspace(-14, 14, 400_001)
    density = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    for seed in range(3):
        torch.manual_seed(seed)
        y = TropicalRational(4, impl="reference").double()(torch.from_numpy(x)).detach().numpy()
        assert float(np.trapezoid(y * y * density, x)) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("cls", [Tropical, TropicalRational])
def test_gradcheck_input_and_parameters(cls):
    torch.manual_seed(1)
    m = cls(3, impl="reference").double()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p))  # distinct lines: the max is unique almost surely
    names = [n for n, _ in m.named_parameters()]
    x = torch.randn(10, dtype=torch.float64, requires_grad=True)
    params = [p.detach().clone().requires_grad_(True) for p in m.parameters()]
    assert torch.autograd.gradcheck(lambda x, *ps: torch.func.functional_call(m, dict(zip(names, ps)), (x,)),
                                    (x, *params))


@pytest.mark.parametrize("kind", ["tropical", "tropical_rational"])
def test_same_values_and_gradients_as_torchortho(kind):
    torch.manual_seed(2)
    if kind == "tropical":
        ours, theirs = Tropical(5, impl="reference").double(), torchortho.TropicalActivation(5).double()
    else:
        ours = TropicalRational(5, impl="reference").double()
        theirs = torchortho.TropicalRationalActivation(5, load_cached=False).double()
    names = [n for n, _ in ours.named_parameters()]
    assert names == [n for n, _ in theirs.named_parameters()] or set(names) == {n for n, _ in theirs.named_parameters()}
    with torch.no_grad():
        for n in names:
            value = torch.randn_like(getattr(ours, n))
            getattr(ours, n).copy_(value), getattr(theirs, n).copy_(value)
    x1 = torch.randn(3, 40, dtype=torch.float64, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    y1, y2 = ours(x1), theirs(x2)
    torch.testing.assert_close(y1, y2, rtol=1e-12, atol=1e-12)
    dy = torch.randn_like(y1)
    y1.backward(dy), y2.backward(dy)
    torch.testing.assert_close(x1.grad, x2.grad)
    for n in names:
        torch.testing.assert_close(getattr(ours, n).grad, getattr(theirs, n).grad)


@pytest.mark.parametrize("name", ["tropical", "tropical_rational"])
@pytest.mark.parametrize("params", [{}, {"degree": 0}, {"degree": -1}])
def test_bad_degree_is_a_suite_error(name, params):
    with pytest.raises(SuiteError, match="degree"):
        create(name, **params)
