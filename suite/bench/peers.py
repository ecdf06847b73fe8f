"""Peer implementations timed side by side with ours (``--peers``); benchmark only.

torchortho's Hermite/Fourier/Tropical activations are the published implementations.
``GatherPWLU`` is written here in the style of the community PWLU re-implementations
(index with floor, ``torch.take`` gathers of the heights, separate elementwise ops each
writing a full-size temporary): a realistic baseline for what the fused kernel replaces,
not meant for training.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from suite.bench.subjects import ActSpec


class GatherPWLU(nn.Module):
    def __init__(self, regions: int = 16, bound: float = 3.0):
        super().__init__()
        self.regions = regions
        self.bound = bound
        points = torch.linspace(-bound, bound, regions + 1)
        self.heights = nn.Parameter(torch.relu(points))
        self.left_slope = nn.Parameter(torch.zeros(()))
        self.right_slope = nn.Parameter(torch.ones(()))

    def forward(self, x):
        width = 2 * self.bound / self.regions
        pos = (x + self.bound) / width
        idx = pos.floor().clamp(0, self.regions - 1).long()
        frac = pos - idx
        left = torch.take(self.heights, idx)
        right = torch.take(self.heights, idx + 1)
        inside = left + (right - left) * frac
        below = self.heights[0] + (x + self.bound) * self.left_slope
        above = self.heights[-1] + (x - self.bound) * self.right_slope
        return torch.where(x < -self.bound, below, torch.where(x > self.bound, above, inside))


def _torchortho(cls_name: str, **options) -> Callable[[ActSpec], nn.Module]:
    """A torchortho activation of the spec's degree. ``load_cached=False``: no coefficient
    file is read at run time; options such as ``clamp=False`` match our modules' math."""

    def build(spec: ActSpec) -> nn.Module:
        import inspect

        import torchortho

        cls = getattr(torchortho, cls_name)
        accepted = inspect.signature(cls.__init__).parameters
        kwargs = {k: v for k, v in {"load_cached": False, **options}.items() if k in accepted}
        return cls(spec.params.get("degree", 3), **kwargs)

    return build


PEERS: dict[str, dict[str, Callable[[ActSpec], nn.Module]]] = {
    "hermite": {"torchortho": _torchortho("HermiteActivation", clamp=False)},
    "fourier": {"torchortho": _torchortho("FourierActivation")},
    "tropical": {"torchortho": _torchortho("TropicalActivation")},
    "pwlu": {"gather": lambda spec: GatherPWLU(regions=spec.params.get("regions", 16))},
}


def peers_for(spec: ActSpec) -> dict[str, Callable[[ActSpec], nn.Module]]:
    return PEERS.get(spec.name, {})
