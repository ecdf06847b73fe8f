"""Tropical activations (Khalfaoui-Hassani et al., arXiv 2502.01247).

Tropical:          y = (sqrt(2)/d) max_{k=0..d} (k x + c_k),  c_k init 1
                   (at init: sqrt(2) relu(x) + sqrt(2)/d, ReLU with Kaiming's gain)
Tropical rational: y = max_k (p_k x + c_k) - max_k (q_k x + e_k), all parameters drawn
                   from N(0, 1) and then scaled together so that E[y^2] = 1 for x ~ N(0,1)
                   (a max of affine maps is positively homogeneous in its parameters, so
                   one common factor sets the second moment exactly).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from suite.activations import register_activation
from suite.activations.base import Activation
from suite.activations.orthogonal import require_degree


class Tropical(Activation):
    """Attribute ``coefficients`` [d+1] (c_k); buffer ``powers`` = 0..d (fixed slopes)."""

    kernel_name = "tropical"

    def __init__(self, degree=None, inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        self.degree = require_degree("tropical", degree)
        self.coefficients = nn.Parameter(torch.ones(self.degree + 1))
        self.register_buffer("powers", torch.arange(self.degree + 1, dtype=torch.float32))

    def reference_forward(self, x):
        lines = x.unsqueeze(-1) * self.powers.to(x.dtype) + self.coefficients.to(x.dtype)
        return (math.sqrt(2) / self.degree) * lines.amax(-1)

    def extra_repr(self):
        return f"degree={self.degree}"


def _second_moment(pn, cn, pd, cd, nodes: int = 120) -> float:
    """E[y^2] under N(0,1) by Gauss–Hermite(e) quadrature (accurate for this piecewise-linear y)."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    y = (np.outer(x, pn) + cn).max(1) - (np.outer(x, pd) + cd).max(1)
    return float(np.sum(w * y * y))


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
        xe = x.unsqueeze(-1)
        num = (xe * self.powers_num.to(x.dtype) + self.coefficients_num.to(x.dtype)).amax(-1)
        den = (xe * self.powers_denom.to(x.dtype) + self.coefficients_denom.to(x.dtype)).amax(-1)
        return num - den

    def extra_repr(self):
        return f"degree={self.degree}"


register_activation("tropical", family="tropical", paper="Khalfaoui-Hassani et al. 2025, arXiv 2502.01247", learnable=True, needs_degree=True)(Tropical)
register_activation("tropical_rational", family="tropical", paper="Khalfaoui-Hassani et al. 2025, arXiv 2502.01247", learnable=True, needs_degree=True)(TropicalRational)
