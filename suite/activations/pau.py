"""Padé Activation Unit, version B (Molina et al. 2020, arXiv 1907.06732).

    y = P(x) / Q(x),  P(x) = a_0 + a_1 x + ... + a_m x^m,  Q(x) = 1 + |b_1 x + ... + b_n x^n|

The absolute value keeps Q >= 1, so there are no poles. Default m = 5, n = 4, initialised
(as in the paper) to approximate leaky ReLU; the initial coefficients come from our own
least-squares fit, solved once per (m, n, target) and cached in memory.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from suite.activations import register_activation
from suite.activations.base import Activation, positive_int
from suite.errors import bad_value

INIT_TARGETS = {
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.01 * x),
    "relu": lambda x: np.maximum(x, 0.0),
    "silu": lambda x: x / (1 + np.exp(-x)),
}


@functools.lru_cache(maxsize=None)
def fit_pau(m: int, n: int, target: str, lo: float = -3.0, hi: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of P/(1+|B|) to ``target`` on [lo, hi].

    Linearised first (P(x) - f(x) B(x) = f(x), assuming B's sign is that of f's fitted
    denominator), then refined by a few hundred Adam steps on the exact rational form in
    float64. Deterministic: no randomness anywhere.
    """
    x = np.linspace(lo, hi, 2001)
    f = INIT_TARGETS[target](x)
    # Linear least squares for P(x) - f(x) * (b_1 x + ... + b_n x^n) = f(x).
    A = np.concatenate([x[:, None] ** np.arange(m + 1), -f[:, None] * x[:, None] ** np.arange(1, n + 1)], axis=1)
    coef, *_ = np.linalg.lstsq(A, f, rcond=None)
    a = torch.tensor(coef[: m + 1], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(coef[m + 1 :], dtype=torch.float64, requires_grad=True)
    xt, ft = torch.tensor(x), torch.tensor(f)
    opt = torch.optim.Adam([a, b], lr=1e-3)
    for _ in range(500):
        opt.zero_grad()
        loss = ((rational(xt, a, b) - ft) ** 2).mean()
        loss.backward()
        opt.step()
    return a.detach().numpy().copy(), b.detach().numpy().copy()


def rational(x: torch.Tensor, numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """P(x) / (1 + |x Bq(x)|) with Horner's rule for both polynomials."""
    p = torch.zeros_like(x) + numerator[-1]
    for coeff in numerator.flip(0)[1:]:
        p = p * x + coeff
    q = torch.zeros_like(x) + denominator[-1]
    for coeff in denominator.flip(0)[1:]:
        q = q * x + coeff
    return p / (1 + torch.abs(q * x))


class PAU(Activation):
    """Attributes: ``numerator`` [m+1] (a_0..a_m), ``denominator`` [n] (b_1..b_n)."""

    kernel_name = "pau"

    def __init__(self, numerator_degree: int = 5, denominator_degree: int = 4, init: str = "leaky_relu", inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        m = positive_int("pau numerator_degree", numerator_degree)
        n = positive_int("pau denominator_degree", denominator_degree)
        if init not in INIT_TARGETS:
            raise bad_value("pau init", init, f"one of {', '.join(INIT_TARGETS)}")
        a, b = fit_pau(m, n, init)
        self.numerator = nn.Parameter(torch.tensor(a, dtype=torch.float32))
        self.denominator = nn.Parameter(torch.tensor(b, dtype=torch.float32))

    def reference_forward(self, x):
        return rational(x, self.numerator.to(x.dtype), self.denominator.to(x.dtype))


register_activation("pau", family="rational", paper="Molina et al. 2020 (Padé Activation Units), arXiv 1907.06732", learnable=True, aliases=("pade", "rational"))(PAU)
