"""Peer implementations timed side by side with ours (``--peers``); benchmark only.

torchortho's Hermite/Fourier/Tropical activations are the published implementations.
``GatherPWLU`` is written here in the style of the community PWLU re-implementations
(index with floor, ``torch.take`` gathers of the heights, separate elementwise ops each
writing a full-size temporary): a realistic baseline for what the fused kernel replaces,
not meant for training. On the CPU, ``torch.compile`` is the compiled kernel of
``fused.cpu`` that a hand-written C++ kernel replaced (Fourier, PAU, the
sigmoid-gated units, the B-spline,
tropical rational): both timed in one run show what the C++ kernel gains.
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


class CompiledKernel(nn.Module):
    """The unit with its forward through one of ``fused.cpu``'s torch.compile kernels."""

    def __init__(self, unit: nn.Module, kernel: Callable[[nn.Module, torch.Tensor], torch.Tensor]):
        super().__init__()
        self.unit, self.kernel = unit, kernel

    def forward(self, x):
        return self.kernel(self.unit, x)


def _compiled(kernel_name: str) -> Callable[[ActSpec], nn.Module]:
    def build(spec: ActSpec) -> nn.Module:
        import suite.activations as A
        from suite.activations.fused import cpu

        return CompiledKernel(A.create(spec.name, **spec.params), getattr(cpu, kernel_name))

    return build


# CPU only: what the C++ kernels replaced (fused.cpu's kernels by their function names).
CPU_PEERS: dict[str, dict[str, Callable[[ActSpec], nn.Module]]] = {
    name: {"torch.compile": _compiled(kernel)}
    for name, kernel in [("fourier", "fourier_kernel"), ("swish_beta", "swish_beta_kernel"),
                         ("acon_c", "acon_kernel"), ("meta_acon", "meta_acon_kernel"),
                         ("sqish", "sqish_kernel"), ("apalu", "apalu_kernel"), ("pau", "pau_kernel"),
                         ("bspline", "bspline_kernel"), ("tropical_rational", "tropical_rational_kernel"),
                         ("tropical", "tropical_kernel"), ("hermite", "hermite_kernel")]
}


def peers_for(spec: ActSpec, device: torch.device) -> dict[str, Callable[[ActSpec], nn.Module]]:
    """The peers in the order they are timed: the torch.compile kernel first, right after
    ours, since a peer timed after torchortho's (gigabytes per call) runs on a disturbed
    allocator and cache (measured: Fourier's fused/compiled ratio read 1.1 there, 0.6
    otherwise)."""
    return {**(CPU_PEERS.get(spec.name, {}) if device.type == "cpu" else {}), **PEERS.get(spec.name, {})}
