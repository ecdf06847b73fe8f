"""KAN-style B-spline activation (Liu et al. 2024, KAN, arXiv 2404.19756).

    y = base_weight * silu(x) + spline_weight * sum_i c_i B_i(x)

B_i are the B-splines of order k (cubic by default) on a uniform grid of ``grid_size``
intervals over ``grid_range``, extended by k knots on each side as KAN does, so
G + k basis functions cover the range; they vanish outside the extended knot span,
where the SiLU base branch carries the function. Coefficients start at 0 (the function
starts as SiLU), per layer or per channel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from suite.activations import register_activation
from suite.activations.base import Activation, along_channels, check_channels, param_shape, positive_int
from suite.errors import bad_value


def bspline_basis(x: torch.Tensor, knots: torch.Tensor, order: int) -> torch.Tensor:
    """All B-spline basis functions at x, shape x.shape + [len(knots) - order - 1].

    Cox–de Boor recursion, vectorised over the basis index: start from the order-0
    indicators of each knot interval and raise the order one step at a time.
    """
    t = knots.to(x.dtype)
    xe = x.unsqueeze(-1)
    basis = ((xe >= t[:-1]) & (xe < t[1:])).to(x.dtype)
    for p in range(1, order + 1):
        left = (xe - t[: -(p + 1)]) / (t[p:-1] - t[: -(p + 1)]) * basis[..., :-1]
        right = (t[p + 1 :] - xe) / (t[p + 1 :] - t[1:-p]) * basis[..., 1:]
        basis = left + right
    return basis


class BSpline(Activation):
    """Attributes: ``coefficients`` [1|C, G+k], ``base_weight``, ``spline_weight`` [1|C];
    buffer ``knots`` [G + 2k + 1]."""

    kernel_name = "bspline"

    def __init__(self, grid_size: int = 5, spline_order: int = 3, grid_range=(-2.0, 2.0), channels=None, inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        self.grid_size = positive_int("bspline grid_size", grid_size)
        self.spline_order = positive_int("bspline spline_order", spline_order, minimum=0)
        lo, hi = (float(v) for v in grid_range)
        if not lo < hi:
            raise bad_value("bspline grid_range", tuple(grid_range), "(low, high) with low < high")
        self.channels = check_channels(channels)
        h = (hi - lo) / grid_size
        k = self.spline_order
        self.register_buffer("knots", lo + h * torch.arange(-k, grid_size + k + 1, dtype=torch.float32))
        self.coefficients = nn.Parameter(torch.zeros(param_shape(self.channels, grid_size + k)))
        self.base_weight = nn.Parameter(torch.ones(param_shape(self.channels)))
        self.spline_weight = nn.Parameter(torch.ones(param_shape(self.channels)))

    def reference_forward(self, x):
        basis = bspline_basis(x, self.knots, self.spline_order)  # x.shape + [G+k]
        if self.channels is None:
            spline = basis @ self.coefficients[0].to(x.dtype)
        else:
            along_channels(self.base_weight, x)  # checks the channel count
            shape = [1] * x.dim() + [self.coefficients.shape[1]]
            shape[1] = self.channels
            spline = (basis * self.coefficients.reshape(shape)).sum(-1)
        return along_channels(self.base_weight, x) * F.silu(x) + along_channels(self.spline_weight, x) * spline


register_activation("bspline", family="spline", paper="Liu et al. 2024 (KAN), arXiv 2404.19756", learnable=True, per_channel=True, aliases=("kan",))(BSpline)
