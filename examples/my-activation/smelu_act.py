"""SmeLU, the smooth ReLU (Shamir, Lin, Coviello 2020, arXiv 2010.09458), as a suite plugin.

    smelu(x) = 0                    for x <= -beta
             = (x + beta)^2 / (4 beta)  for |x| < beta
             = x                    for x >= beta

Importing this module registers the name ``smelu``; the suite imports it through the
entry point declared in pyproject.toml (or ``--plugin smelu_act.py`` without installing).
"""
from __future__ import annotations

import torch
from torch import nn

from suite.activations import register_activation


class SmeLU(nn.Module):
    def __init__(self, beta: float = 1.0, inplace: bool = False):  # inplace: timm's act_layer passes it
        super().__init__()
        if not float(beta) > 0:
            raise ValueError(f"smelu beta {beta!r} is not accepted; expected a positive number")
        self.beta = float(beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        quad = (x + self.beta) ** 2 / (4 * self.beta)
        return torch.where(x >= self.beta, x, torch.where(x <= -self.beta, torch.zeros_like(x), quad))

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


register_activation("smelu", family="user", paper="Shamir et al. 2020, arXiv 2010.09458",
                    learnable=False)(SmeLU)
