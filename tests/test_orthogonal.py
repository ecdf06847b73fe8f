"""Hermite and Fourier activations (arXiv 2502.01247): formula, gradients, torchortho
parity on the same parameters, variance at init, closed-form projection, validation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.polynomial import hermite_e

import torchortho
from suite.activations import create
from suite.activations.orthogonal import Fourier, Hermite
from suite.errors import SuiteError

NODES, WEIGHTS = hermite_e.hermegauss(100)
WEIGHTS = WEIGHTS / WEIGHTS.sum()  # expectation under N(0, 1)
EDGES = torch.tensor([0.0, 1.0, -1.0, 30.0, -30.0], dtype=torch.float64)


def gaussian_mean(values: np.ndarray) -> float:
    return float(np.sum(WEIGHTS * values))


def random_params(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


@pytest.mark.parametrize("degree", [1, 3, 8])
def test_hermite_matches_hermeval(degree):
    m = random_params(Hermite(degree, impl="reference").double())
    x = torch.cat([torch.randn(300, dtype=torch.float64) * 3, EDGES])
    c = m.coefficients.detach().numpy() / np.array([math.factorial(k) for k in range(degree + 1)])
    np.testing.assert_allclose(m(x).detach().numpy(), hermite_e.hermeval(x.numpy(), c), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("degree", [1, 4])
def test_fourier_matches_formula(degree):
    m = random_params(Fourier(degree, impl="reference").double(), seed=1)
    x = torch.cat([torch.randn(300, dtype=torch.float64) * 3, EDGES]).numpy()
    a0, a = m.fundamental.item(), m.coefficients.detach().numpy()
    w, phi = m.frequencies.detach().numpy(), m.phases.detach().numpy()
    want = a0 + sum(a[k - 1] * np.cos(w[k - 1] * x - phi[k - 1]) / math.factorial(k) for k in range(1, degree + 1))
    np.testing.assert_allclose(m(torch.from_numpy(x)).detach().numpy(), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cls", [Hermite, Fourier])
def test_gradcheck_input_and_parameters(cls):
    m = random_params(cls(3, impl="reference").double(), seed=2)
    names = [n for n, _ in m.named_parameters()]
    x = torch.randn(12, dtype=torch.float64, requires_grad=True)
    params = [p.detach().clone().requires_grad_(True) for p in m.parameters()]

    def f(x, *ps):
        return torch.func.functional_call(m, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params))


def copy_into_torchortho(ours, theirs, mapping):
    with torch.no_grad():
        for mine, their in mapping.items():
            getattr(theirs, their).copy_(getattr(ours, mine).reshape(getattr(theirs, their).shape))


@pytest.mark.parametrize("kind,degree", [("hermite", 3), ("hermite", 6), ("fourier", 5)])
def test_same_values_and_gradients_as_torchortho(kind, degree):
    if kind == "hermite":
        ours = random_params(Hermite(degree, impl="reference").double(), seed=3)
        theirs = torchortho.HermiteActivation(degree, load_cached=False).double()
        mapping = {"coefficients": "coefficients"}
    else:
        ours = random_params(Fourier(degree, impl="reference").double(), seed=3)
        theirs = torchortho.FourierActivation(degree, load_cached=False).double()
        # torchortho calls the frequencies `grid`
        mapping = {"fundamental": "fundamental", "coefficients": "coefficients",
                   "frequencies": "grid", "phases": "phases"}
    copy_into_torchortho(ours, theirs, mapping)
    # tolerance 2e-6: torchortho builds its power-expansion table in float32 via
    # exp(log(...)), so even in float64 its coefficients carry float32 rounding.
    x = torch.randn(4, 50, dtype=torch.float64)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y1, y2 = ours(x1), theirs(x2)
    torch.testing.assert_close(y1, y2, rtol=2e-6, atol=2e-6)
    dy = torch.randn_like(y1)
    y1.backward(dy), y2.backward(dy)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=2e-6, atol=2e-6)
    for mine, their in mapping.items():
        torch.testing.assert_close(getattr(ours, mine).grad.reshape(-1), getattr(theirs, their).grad.reshape(-1),
                                   rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("degree,expected", [(3, 0.920), (5, 0.996)])
def test_hermite_second_moment_at_init(degree, expected):
    """E[y^2] for x ~ N(0,1), by exact Gauss-Hermite quadrature.

    The He_k are orthogonal under the Gaussian, E[He_j He_k] = k! delta_jk, so with
    y = sum c_k He_k/k! the second moment is sum c_k^2 / k!; the init c_0^2 = (1-1/d!)/e,
    c_k^2 = 1/e gives (1/e)(sum_{k=0..d} 1/k! - 1/d!), which tends to 1 as d grows.
    """
    m = Hermite(degree, impl="reference").double()
    y = m(torch.from_numpy(NODES)).detach().numpy()
    closed_form = (sum(1 / math.factorial(k) for k in range(degree + 1)) - 1 / math.factorial(degree)) / math.e
    assert gaussian_mean(y**2) == pytest.approx(closed_form, rel=1e-6)  # float32 init
    assert closed_form == pytest.approx(expected, abs=5e-4)


@pytest.mark.parametrize("degree", [3, 5])
def test_fourier_second_moment_at_init(degree):
    """E[y^2] for x ~ N(0,1) against the closed form of the paper's analysis.

    E[cos(w x - phi)] = exp(-w^2/2) cos(phi), and for phi = pi/4 on both terms
    E[cos(j x - phi) cos(k x - phi)] = exp(-(j-k)^2/2)/2 (the cos(2 phi) = 0 term drops).
    The paper's normalisation is Parseval's: with amplitude c = 1/sqrt(I_0(2)) and
    I_0(2) = sum_k 1/(k!)^2, the init gives a_0^2 + sum_k (a_k/k!)^2 =
    c^2 (sum_{k=0..d} 1/(k!)^2 - 1/(d!)^2), which tends to 1. Under a Gaussian input the
    harmonics are not orthogonal, so E[y^2] itself is somewhat above 1 (1.31 at d = 5).
    """
    m = Fourier(degree, impl="reference").double()
    y = m(torch.from_numpy(NODES)).detach().numpy()
    a0 = m.fundamental.item()
    a = m.coefficients.detach().numpy() / np.array([math.factorial(k) for k in range(1, degree + 1)])
    k = np.arange(1, degree + 1)
    closed = (a0**2 + 2 * a0 * np.sum(a * np.exp(-k**2 / 2)) * math.cos(math.pi / 4)
              + 0.5 * np.sum(np.outer(a, a) * np.exp(-np.subtract.outer(k, k) ** 2 / 2)))
    assert gaussian_mean(y**2) == pytest.approx(closed, rel=1e-8)
    parseval = a0**2 + np.sum(a**2)
    bessel = sum(1 / math.factorial(j) ** 2 for j in range(60))  # I_0(2)
    want = (sum(1 / math.factorial(j) ** 2 for j in range(degree + 1)) - 1 / math.factorial(degree) ** 2) / bessel
    assert parseval == pytest.approx(want, rel=1e-6)
    assert 0.9 < parseval <= 1.0 and 0.5 < closed < 1.5


def test_hermite_projection_reproduces_a_polynomial_exactly():
    # silu is not a polynomial; use relu's degree-0 ... instead project a cubic via its
    # Hermite expansion: target x^3 - x = He_3(x) + 2 He_1(x) -> c_3 = 3! = 6, c_1 = 2.
    from suite.activations import orthogonal

    orthogonal.PROJECTION_TARGETS["_cubic_test"] = lambda x: x**3 - x
    try:
        c = orthogonal.hermite_projection("_cubic_test", 5)
    finally:
        del orthogonal.PROJECTION_TARGETS["_cubic_test"]
    np.testing.assert_allclose(c, [0, 2, 0, 6, 0, 0], atol=1e-10)


def test_hermite_init_from_gelu_is_a_good_fit():
    m = create("hermite", degree=8, init="gelu", impl="reference").double()
    x = torch.from_numpy(NODES)
    err = gaussian_mean((m(x) - F.gelu(x)).detach().numpy() ** 2)
    assert err < 1e-4
    # least squares: no other coefficient vector of this degree does better (perturb it)
    with torch.no_grad():
        m.coefficients[2] += 0.01
    assert gaussian_mean((m(x) - F.gelu(x)).detach().numpy() ** 2) > err


@pytest.mark.parametrize("name", ["hermite", "fourier"])
@pytest.mark.parametrize("params", [{}, {"degree": 0}, {"degree": 2.0}])
def test_bad_degree_is_a_suite_error(name, params):
    with pytest.raises(SuiteError, match="degree"):
        create(name, **params)


def test_bad_hermite_init_is_a_suite_error():
    with pytest.raises(SuiteError, match="init"):
        create("hermite", degree=3, init="softsign")
