"""Tropical activations (Khalfaoui-Hassani et al., arXiv 2502.01247).

Tropical:          y = (sqrt(2)/d) max_{k=0..d} (k x + c_k),  c_k init 1
                   (at init: sqrt(2) relu(x) + sqrt(2)/d, ReLU with Kaiming's gain)
Tropical rational: y = max_k (p_k x + c_k) - max_k (q_k x + e_k), all parameters drawn
                   from N(0, 1) and then scaled together so that E[y^2] = 1 for x ~ N(0,1)
                   (a max of affine maps is positively homogeneous in its parameters, so
                   one common factor sets the second moment exactly; the moment is
                   computed in closed form piece by piece). torchortho 0.1.2 draws
                   plain randn without this scaling, so its E[y^2] at init is random;
                   the parameter names here match torchortho's, so weights copy across.

Ties: where several lines reach a maximum (a kink), the whole gradient goes to one of
them, the one of least slope (the left derivative of the convex maximum), and of
identical lines the first. torchortho's ``max(-1)`` also gives it all to one line, the
first by index: for the tropical unit (slopes 0..d in order) that is the same line;
for the tropical rational unit, whose slopes are learnt in any order, the two differ
only at an exact tie of lines whose slopes are out of index order. The fused kernels
follow the same rule (their breakpoints are strict: x > b_j), and the tests assert it.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from suite.activations import register_activation
from suite.activations.base import Activation
from suite.activations.orthogonal import require_degree


def max_of_lines(x: torch.Tensor, slopes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """max_k (slopes_k x + offsets_k), differentiated as the one winning line: of the lines
    tied at the maximum, the least slope, then the first index (see the module's "Ties").
    amax would split the gradient evenly among tied lines."""
    lines = x.unsqueeze(-1) * slopes + offsets
    tied = lines == lines.detach().amax(-1, keepdim=True)
    winner = torch.where(tied, slopes.detach(), math.inf).argmin(-1, keepdim=True)  # first of the least
    return lines.gather(-1, winner).squeeze(-1)


class Tropical(Activation):
    """Attribute ``coefficients`` [d+1] (c_k); buffer ``powers`` = 0..d (fixed slopes)."""

    kernel_name = "tropical"

    def __init__(self, degree=None, inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        self.degree = require_degree("tropical", degree)
        self.coefficients = nn.Parameter(torch.ones(self.degree + 1))
        self.register_buffer("powers", torch.arange(self.degree + 1, dtype=torch.float32))

    def reference_forward(self, x):
        top = max_of_lines(x, self.powers.to(x.dtype), self.coefficients.to(x.dtype))
        return (math.sqrt(2) / self.degree) * top

    def extra_repr(self):
        return f"degree={self.degree}"


def _kinks(slopes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """All pairwise crossings of the lines slopes*x + offsets (a superset of the kinks)."""
    i, j = np.triu_indices(len(slopes), 1)
    ds = slopes[i] - slopes[j]
    ok = ds != 0
    return (offsets[j][ok] - offsets[i][ok]) / ds[ok]


def _second_moment(pn, cn, pd, cd) -> float:
    """E[y^2] under x ~ N(0,1), exactly: y is piecewise linear, and on a piece
    [a, b] where y = alpha x + beta the Gaussian integral of (alpha x + beta)^2 is
    alpha^2 M2 + 2 alpha beta M1 + beta^2 M0 with M0 = Phi(b) - Phi(a),
    M1 = phi(a) - phi(b), M2 = M0 + a phi(a) - b phi(b)."""
    cuts = np.unique(np.concatenate([_kinks(pn, cn), _kinks(pd, cd)]))
    ends = np.concatenate([[-np.inf], cuts, [np.inf]])
    total = 0.0
    for a, b in zip(ends[:-1], ends[1:]):
        mid = (a + b) / 2 if np.isfinite(a) and np.isfinite(b) else (b - 1 if np.isfinite(b) else (a + 1 if np.isfinite(a) else 0.0))
        kn, kd = np.argmax(pn * mid + cn), np.argmax(pd * mid + cd)
        alpha, beta = pn[kn] - pd[kd], cn[kn] - cd[kd]
        cdf = lambda t: 0.5 * (1 + math.erf(t / math.sqrt(2)))
        pdf = lambda t: math.exp(-t * t / 2) / math.sqrt(2 * math.pi) if np.isfinite(t) else 0.0
        t_pdf = lambda t: t * pdf(t) if np.isfinite(t) else 0.0
        m0 = cdf(b) - cdf(a)
        m1 = pdf(a) - pdf(b)
        m2 = m0 + t_pdf(a) - t_pdf(b)
        total += alpha * alpha * m2 + 2 * alpha * beta * m1 + beta * beta * m0
    return float(total)


class TropicalRational(Activation):
    """Attributes ``powers_num``, ``coefficients_num``, ``powers_denom``,
    ``coefficients_denom`` [d+1] each."""

    kernel_name = "tropical_rational"

    def __init__(self, degree=None, inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        self.degree = require_degree("tropical_rational", degree)
        params = [torch.randn(self.degree + 1, dtype=torch.float64) for _ in range(4)]
        moment = _second_moment(*(p.numpy() for p in params))
        scale = 1.0 / math.sqrt(moment) if moment > 0 else 1.0
        pn, cn, pd, cd = (nn.Parameter((p * scale).float()) for p in params)
        self.powers_num, self.coefficients_num = pn, cn
        self.powers_denom, self.coefficients_denom = pd, cd

    def reference_forward(self, x):
        num = max_of_lines(x, self.powers_num.to(x.dtype), self.coefficients_num.to(x.dtype))
        den = max_of_lines(x, self.powers_denom.to(x.dtype), self.coefficients_denom.to(x.dtype))
        return num - den

    def extra_repr(self):
        return f"degree={self.degree}"


register_activation("tropical", family="tropical", paper="Khalfaoui-Hassani et al. 2025, arXiv 2502.01247", learnable=True, needs_degree=True)(Tropical)
register_activation("tropical_rational", family="tropical", paper="Khalfaoui-Hassani et al. 2025, arXiv 2502.01247", learnable=True, needs_degree=True)(TropicalRational)
