"""Padé Activation Unit (Molina et al. 2020, arXiv 1907.06732), versions A and B:

    y = P(x) / Q(x),   P(x) = a_0 + a_1 x + ... + a_m x^m,
    version A:  Q(x) = 1 + |b_1| |x| + ... + |b_n| |x|^n      (the default)
    version B:  Q(x) = 1 + |b_1 x + ... + b_n x^n|

Both keep Q >= 1, so there are no poles. Version A is what the authors' released code
computes (ml-research/pau's ``PADEACTIVATION_F_abs_cpp`` and the python version beside
it, and rational_activations' default); B is the paper's "safe PAU" formula, kept for
comparison. Default m = 5, n = 4, initialised to leaky ReLU (slope 0.01) with the
authors' published coefficients (below); other targets and degrees start from our own
least-squares fit of the chosen version, solved once per (m, n, target, version).
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
VERSIONS = ("A", "B")

# The authors' degree-(5, 4) fit to leaky ReLU, "pade_optimized_leakyrelu" in
# get_constants_for_inits of ml-research/pau, pau/cuda/python_imp/Pade.py at commit
# c122738ff8a3b0f50cd48bb03071fadf85e12875 (the values only): a_0..a_5, then b_1..b_4,
# fitted for version A. Its RMS error on [-3, 3] against leaky ReLU is 0.0056.
AUTHORS_LEAKY_RELU = (
    (3.35583603e-02, 5.05000375e-01, 1.65343934e00, 2.01001052e00, 9.31901999e-01, 1.52424124e-01),
    (3.30847488e-06, 3.98021568e00, 5.12471206e-07, 3.01830109e-01),
)


@functools.lru_cache(maxsize=None)
def fit_pau(m: int, n: int, target: str, version: str = "A", lo: float = -3.0,
            hi: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of P/Q (``version``'s Q) to ``target`` on [lo, hi].

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
        loss = ((rational(xt, a, b, version) - ft) ** 2).mean()
        loss.backward()
        opt.step()
    return a.detach().numpy().copy(), b.detach().numpy().copy()


def _horner(x: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(x) + coefficients[-1]
    for c in coefficients.flip(0)[1:]:
        out = out * x + c
    return out


def rational(x: torch.Tensor, numerator: torch.Tensor, denominator: torch.Tensor, version: str = "A") -> torch.Tensor:
    """P(x) / Q(x) of ``version`` (module docstring), both polynomials by Horner's rule."""
    p = _horner(x, numerator)
    if version == "A":
        ax = torch.abs(x)
        return p / (1 + ax * _horner(ax, torch.abs(denominator)))
    return p / (1 + torch.abs(x * _horner(x, denominator)))


class PAU(Activation):
    """Attributes: ``numerator`` [m+1] (a_0..a_m), ``denominator`` [n] (b_1..b_n);
    ``version`` "A" or "B" (module docstring)."""

    kernel_name = "pau"

    def __init__(self, numerator_degree: int = 5, denominator_degree: int = 4, init: str = "leaky_relu",
                 version: str = "A", inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        m = positive_int("pau numerator_degree", numerator_degree)
        n = positive_int("pau denominator_degree", denominator_degree)
        if init not in INIT_TARGETS:
            raise bad_value("pau init", init, f"one of {', '.join(INIT_TARGETS)}")
        if version not in VERSIONS:
            raise bad_value("pau version", version, "'A' (the authors' code, default) or 'B' (|sum b_k x^k|)")
        self.version = version
        if init == "leaky_relu" and (m, n) == (5, 4):
            # They serve B too: all b_k > 0, so B's Q equals A's for x >= 0 and falls short
            # of it by 2 (b_1 |x| + b_3 |x|^3) below, with b_1 and b_3 near 1e-6.
            a, b = (np.array(c) for c in AUTHORS_LEAKY_RELU)
        else:
            a, b = fit_pau(m, n, init, version)
        self.numerator = nn.Parameter(torch.tensor(a, dtype=torch.float32))
        self.denominator = nn.Parameter(torch.tensor(b, dtype=torch.float32))

    def reference_forward(self, x):
        return rational(x, self.numerator.to(x.dtype), self.denominator.to(x.dtype), self.version)

    def extra_repr(self):
        return f"version={self.version!r}"


register_activation("pau", family="rational", paper="Molina et al. 2020 (Padé Activation Units), arXiv 1907.06732",
                    learnable=True, aliases=("pade", "rational"))(PAU)
