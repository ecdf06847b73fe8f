"""Learnable activations on orthogonal bases (Khalfaoui-Hassani et al., arXiv 2502.01247).

Hermite:  y = sum_{k=0..d} c_k He_k(x) / k!   (probabilists' Hermite polynomials)
Fourier:  y = a_0 + sum_{k=1..d} a_k cos(w_k x - phi_k) / k!

Both keep one small parameter vector per layer. Hermite is evaluated with the three-term
recurrence He_{k+1} = x He_k - k He_{k-1} (d multiply-adds per element), never with
expanded powers. Initialisations follow the paper/torchortho so that E[y^2] stays near
1 for unit-normal inputs; ``init=<activation name>`` instead projects that activation
onto the Hermite basis (Gauss–Hermite quadrature; ReLU, whose kink quadrature resolves
badly, exactly), the least-squares fit
under the Gaussian weight that torchortho approximates with a cached Adam fit.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from suite.activations import register_activation
from suite.activations.base import Activation, positive_int
from suite.errors import bad_value, SuiteError

# Targets a Hermite unit can be initialised to (numpy, evaluated at quadrature nodes).
PROJECTION_TARGETS = {
    "gelu": lambda x: torch.nn.functional.gelu(torch.from_numpy(x)).numpy(),
    "relu": lambda x: np.maximum(x, 0.0),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "tanh": np.tanh,
}
I_0_2_SQRT_INV = 0.66232645879  # Fourier init amplitude of the paper (1/sqrt(I_0(2)))


def require_degree(name: str, degree) -> int:
    if degree is None:
        raise SuiteError(f"{name} needs degree=<integer >= 1> (it has no default; the paper used 3 or 5).")
    return positive_int(f"{name} degree", degree)


def hermite_projection(target: str, degree: int, nodes: int = 120) -> np.ndarray:
    """Coefficients c_k of the least-squares fit sum c_k He_k/k! to ``target`` under N(0,1).

    Orthogonality E[He_j He_k] = k! delta_jk gives c_k = E[f(X) He_k(X)], computed by
    Gauss–Hermite(e) quadrature with ``nodes`` points (exact for polynomials of degree
    < 2*nodes).
    """
    if target not in PROJECTION_TARGETS:
        raise bad_value("hermite init", target, f"'default' or one of {', '.join(PROJECTION_TARGETS)}")
    if target == "relu":
        return relu_hermite_coefficients(degree)
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()  # probability weights of N(0, 1)
    f = PROJECTION_TARGETS[target](x)
    he_prev, he = np.zeros_like(x), np.ones_like(x)
    coeffs = []
    for k in range(degree + 1):
        coeffs.append(np.sum(w * f * he))
        he_prev, he = he, x * he - k * he_prev
    return np.array(coeffs)


def relu_hermite_coefficients(degree: int) -> np.ndarray:
    """c_k = E[relu(X) He_k(X)] for X ~ N(0, 1), in closed form.

    Quadrature converges slowly across ReLU's kink (120 nodes: c_8 off by 2.5 %), so
    integrate exactly instead: with phi the normal density, He_n phi = -(He_{n-1} phi)'
    gives int_0^inf He_n phi = He_{n-1}(0) phi(0) (n >= 1), and x He_k = He_{k+1} + k He_{k-1}
    with He_k(0) = -(k-1) He_{k-2}(0) leaves c_0 = phi(0), c_1 = 1/2 and
    c_k = phi(0) He_{k-2}(0) for k >= 2 (zero for odd k)."""
    phi0 = 1.0 / math.sqrt(2 * math.pi)
    he_at_0 = [1.0, 0.0]  # He_0(0), He_1(0), then He_k(0) = -(k-1) He_{k-2}(0)
    for k in range(2, degree + 1):
        he_at_0.append(-(k - 1) * he_at_0[k - 2])
    coeffs = [phi0, 0.5] + [phi0 * he_at_0[k - 2] for k in range(2, degree + 1)]
    return np.array(coeffs[: degree + 1])


def hermite_series(x: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """sum_k coefficients[k] He_k(x)/k! by the recurrence on the scaled polynomials
    h_k = He_k/k!:  h_{k+1} = (x h_k - h_{k-1}) / (k+1)."""
    h_prev = torch.ones_like(x)
    y = coefficients[0] * h_prev
    if coefficients.shape[0] == 1:
        return y
    h = x
    y = y + coefficients[1] * h
    for k in range(1, coefficients.shape[0] - 1):
        h_prev, h = h, (x * h - h_prev) / (k + 1)
        y = y + coefficients[k + 1] * h
    return y


class Hermite(Activation):
    """Attribute ``coefficients`` [d+1]."""

    kernel_name = "hermite"

    def __init__(self, degree=None, init: str = "default", inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        self.degree = require_degree("hermite", degree)
        if init == "default":
            c = np.full(self.degree + 1, 1.0 / math.sqrt(math.e))
            c[0] = math.sqrt(1.0 - 1.0 / math.factorial(self.degree)) / math.sqrt(math.e)
        else:
            c = hermite_projection(init, self.degree)
        self.coefficients = nn.Parameter(torch.tensor(c, dtype=torch.float32))

    def reference_forward(self, x):
        return hermite_series(x, self.coefficients.to(x.dtype))

    def extra_repr(self):
        return f"degree={self.degree}"


class Fourier(Activation):
    """Attributes ``fundamental`` [1] (a_0), ``coefficients`` [d] (a_k), ``frequencies``
    [d] (w_k, init k), ``phases`` [d] (phi_k, init pi/4). Same names and values as
    torchortho's FourierActivation except that it calls the frequencies ``grid``."""

    kernel_name = "fourier"

    def __init__(self, degree=None, inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        d = self.degree = require_degree("fourier", degree)
        if d > 170:  # 171! is beyond float64: the initial fundamental would overflow
            raise SuiteError(f"fourier degree {d} is not accepted; expected an integer from 1 to 170.")
        self.fundamental = nn.Parameter(torch.tensor([I_0_2_SQRT_INV * math.sqrt(1.0 - 1.0 / math.factorial(d) ** 2)]))
        self.coefficients = nn.Parameter(torch.full((d,), I_0_2_SQRT_INV))
        self.frequencies = nn.Parameter(torch.arange(1, d + 1, dtype=torch.float32))
        self.phases = nn.Parameter(torch.full((d,), math.pi / 4))
        # k! (not 1/k!): integers are exact in float32 up to 13!, so converting the module
        # to float64 loses nothing.
        self.register_buffer("factorials", torch.tensor([float(math.factorial(k)) for k in range(1, d + 1)]), persistent=False)

    def reference_forward(self, x):
        waves = torch.cos(x.unsqueeze(-1) * self.frequencies.to(x.dtype) - self.phases.to(x.dtype))
        weights = self.coefficients.to(x.dtype) / self.factorials.to(x.dtype)
        return waves @ weights + self.fundamental.to(x.dtype)

    def extra_repr(self):
        return f"degree={self.degree}"


register_activation("hermite", family="orthogonal", paper="Khalfaoui-Hassani et al. 2025, arXiv 2502.01247", learnable=True, needs_degree=True)(Hermite)
register_activation("fourier", family="orthogonal", paper="Khalfaoui-Hassani et al. 2025, arXiv 2502.01247", learnable=True, needs_degree=True)(Fourier)
