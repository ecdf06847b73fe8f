"""APALU, the Adaptive Piecewise Approximated Activation Linear Unit (Subramanian et al.
2024, arXiv 2402.08244), with learnable a and b:

    y = a (x + x sigmoid(1.702 x))   for x >= 0
    y = b (exp(x) - 1)               for x <  0

x sigmoid(1.702 x) is the sigmoid approximation of GELU (1.702 = GELU's logistic scale),
so the positive branch is a times x + GELU(x); the negative branch is an ELU with its own
scale b. Continuous at 0 (both branches are 0); the slope jumps from b to 1.5 a there.

Source of the formula: the paper's own equations could not be read where this module was
written (only the abstract: "two learnable parameters"). The form and the initial values
a = 0.55, b = 0.065 are those of a public re-implementation (its docstring names these
defaults); a reader with the paper should check both against its Section 3 (see
baselines/README.md).
"""
from __future__ import annotations

import torch
from torch import nn

from suite.activations import register_activation
from suite.activations.base import Activation

GELU_LOGISTIC_SCALE = 1.702  # sigmoid(1.702 x) ~ Phi(x)


class APALU(Activation):
    kernel_name = "apalu"

    def __init__(self, a: float = 0.55, b: float = 0.065, inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        self.a = nn.Parameter(torch.tensor([float(a)]))
        self.b = nn.Parameter(torch.tensor([float(b)]))

    def reference_forward(self, x):
        positive = self.a * (x + x * torch.sigmoid(GELU_LOGISTIC_SCALE * x))
        # expm1 on the clamped input: the unused branch must not overflow for large x.
        negative = self.b * torch.expm1(torch.clamp(x, max=0))
        return torch.where(x >= 0, positive, negative)


register_activation("apalu", family="apalu", paper="Subramanian et al. 2024, arXiv 2402.08244", learnable=True)(APALU)
