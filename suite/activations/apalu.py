"""APALU (Subramanian et al. 2024, arXiv 2402.08244): a two-branch activation with
learnable a and b:

    y = a (x + x sigmoid(b x))   for x >= 0
    y = a (exp(x) - 1)           for x <  0

Continuous at 0 (both branches are 0); at a = 0.5, b = 1 it is ReLU-like for large x
(slope -> 2a = 1) and ELU-like below 0.
"""
from __future__ import annotations

import torch
from torch import nn

from suite.activations import register_activation
from suite.activations.base import Activation


class APALU(Activation):
    kernel_name = "apalu"

    def __init__(self, a: float = 0.5, b: float = 1.0, inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        self.a = nn.Parameter(torch.tensor([float(a)]))
        self.b = nn.Parameter(torch.tensor([float(b)]))

    def reference_forward(self, x):
        positive = x + x * torch.sigmoid(self.b * x)
        # expm1 on the clamped input: the unused branch must not overflow for large x.
        negative = torch.expm1(torch.clamp(x, max=0))
        return self.a * torch.where(x >= 0, positive, negative)


register_activation("apalu", family="apalu", paper="Subramanian et al. 2024, arXiv 2402.08244", learnable=True)(APALU)
