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

            kernel = fused.lookup(self.kernel_name, x, required=self.impl == "fused", module=self)
            if kernel is not None:
                return kernel(self, x)
        return self.reference_forward(x)

    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def check_channels(channels) -> int | None:
    """Validate ``channels=``: None (one parameter set per layer) or a positive int."""
    if channels is None:
        return None
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise bad_value("channels", channels, "None (per-layer) or a positive integer")
    return channels


def param_shape(channels: int | None, *trailing: int) -> tuple[int, ...]:
    """Shape of a parameter: [1, *trailing] per layer or [C, *trailing] per channel."""
    return (channels or 1, *trailing)


def along_channels(p: torch.Tensor, x: torch.Tensor, channel_dim: int = 1) -> torch.Tensor:
    """View a [C] (or [1]) parameter so it broadcasts over x's channel dimension.

    A [1] parameter broadcasts everywhere; a [C] one must match x.shape[channel_dim].
    """
    if p.shape[0] == 1:
        return p.reshape((1,) * max(x.dim(), 1))
    if x.dim() <= channel_dim or x.shape[channel_dim] != p.shape[0]:
        from suite.errors import SuiteError

        raise SuiteError(
            f"per-channel activation has {p.shape[0]} channels but the input's dimension "
            f"{channel_dim} is {tuple(x.shape)[channel_dim] if x.dim() > channel_dim else 'missing'} "
            f"(input shape {tuple(x.shape)}); build it with channels={tuple(x.shape)[channel_dim] if x.dim() > channel_dim else '?'}."
        )
    shape = [1] * x.dim()
    shape[channel_dim] = p.shape[0]
    return p.reshape(shape)


def positive_int(what: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise bad_value(what, value, f"an integer >= {minimum}")
    return value
