"""Fused kernels for learnable activations, looked up by kernel name and device.

A kernel is ``fn(module, x) -> y``: it reads the module's parameters by attribute name
and runs a custom autograd function (torch.compile'd on CPU, Triton on CUDA). The
reference implementation in the module stays the oracle; tests hold the two equal.
"""
from __future__ import annotations

import os
from typing import Callable

import torch

from suite.errors import SuiteError

Kernel = Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]
_KERNELS: dict[tuple[str, str], Kernel] = {}


def register_kernel(name: str, device_type: str):
    def decorator(fn: Kernel) -> Kernel:
        _KERNELS[(name, device_type)] = fn
        return fn

    return decorator


def enabled() -> bool:
    """SUITE_FUSED=0 turns every fused kernel off (for debugging and A/B timing)."""
    return os.environ.get("SUITE_FUSED", "1") != "0"


def lookup(name: str, x: torch.Tensor, required: bool = False) -> Kernel | None:
    kernel = _KERNELS.get((name, x.device.type)) if enabled() else None
    if kernel is None and required:
        have = sorted({dev for (n, dev) in _KERNELS if n == name})
        raise SuiteError(
            f"no fused kernel {name!r} for device {x.device.type!r} "
            f"(available on: {', '.join(have) or 'none'}); use impl='auto' or 'reference'."
        )
    return kernel
from suite.activations.fused import cpu  # noqa: E402,F401  (registers the CPU kernels)
from suite.activations.fused import cpu_pwlu  # noqa: E402,F401

try:  # Triton kernels register for "cuda"; without Triton, CUDA runs the reference math
    import triton  # noqa: F401
except ImportError:
    triton = None
if triton is not None:
    from suite.activations.fused import cuda  # noqa: E402,F401
