"""Base class of every registered activation.

Each activation implements ``reference_forward``: plain PyTorch written from the paper's
formula, differentiated by autograd, and the oracle the tests check against. Learnable
activations may also have a fused kernel (``suite.activations.fused``): a custom autograd
function that saves only the input and computes the backward in one pass. ``forward``
picks the fused kernel when one exists for the input's device and dtype, unless
``impl="reference"``.
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from suite.errors import bad_value

IMPLS = ("auto", "reference", "fused")


class Activation(nn.Module):
    # Name of the fused kernel in suite.activations.fused (None: reference only).
    kernel_name: ClassVar[str | None] = None

    def __init__(self, inplace: bool = False, impl: str = "auto"):
        super().__init__()
        if impl not in IMPLS:
            raise bad_value("impl", impl, f"one of {', '.join(IMPLS)}")
        self.inplace = inplace  # accepted for timm compatibility; learnable ones ignore it
        self.impl = impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.impl != "reference" and self.kernel_name is not None:
            from suite.activations import fused

            kernel = fused.lookup(self.kernel_name, x, required=self.impl == "fused")
            if kernel is not None:
                return kernel(self, x)
        return self.reference_forward(x)

    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
