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
# supports(module, x) -> None if the kernel handles this input, else why not (a phrase).
Supports = Callable[[torch.nn.Module, torch.Tensor], "str | None"]
_KERNELS: dict[tuple[str, str], Kernel] = {}
_SUPPORTS: dict[tuple[str, str], Supports] = {}


def register_kernel(name: str, device_type: str, supports: Supports | None = None):
    """Register ``fn(module, x)`` as the fused kernel ``name`` on ``device_type``.

    ``supports`` says which inputs the kernel really handles (dtype, sizes, a compiled
    extension being available); for any other input ``lookup`` answers None, so the
    module runs its reference and nothing (the benchmark above all) labels that "fused".
    """
    def decorator(fn: Kernel) -> Kernel:
        _KERNELS[(name, device_type)] = fn
        if supports is not None:
            _SUPPORTS[(name, device_type)] = supports
        return fn

    return decorator


def enabled() -> bool:
    """SUITE_FUSED=0 turns every fused kernel off (for debugging and A/B timing)."""
    return os.environ.get("SUITE_FUSED", "1") != "0"


def lookup(name: str, x: torch.Tensor, required: bool = False,
           module: torch.nn.Module | None = None) -> Kernel | None:
    """The kernel for ``x``'s device (and, given ``module``, for this very input), or None.

    ``required``: raise instead of answering None, saying why there is no kernel."""
    key = (name, x.device.type)
    kernel = _KERNELS.get(key) if enabled() else None
    why_not = None
    if kernel is not None and module is not None and key in _SUPPORTS:
        why_not = _SUPPORTS[key](module, x)
        if why_not is not None:
            kernel = None
    if kernel is None and required:
        if why_not is not None:
            raise SuiteError(f"fused kernel {name!r} on {x.device.type!r} does not handle this input: {why_not}; "
                             "use impl='auto' (falls back to the reference) or 'reference'.")
        have = sorted({dev for (n, dev) in _KERNELS if n == name})
        raise SuiteError(
            f"no fused kernel {name!r} for device {x.device.type!r} "
            f"(available on: {', '.join(have) or 'none'}); use impl='auto' or 'reference'."
        )
    return kernel
from suite.activations.fused import cpu  # noqa: E402,F401  (registers the CPU kernels)
from suite.activations.fused import cpu_pwlu  # noqa: E402,F401
from suite.activations.fused import cpu_gated  # noqa: E402,F401  (after cpu: falls back to its kernels)
from suite.activations.fused import cpu_fourier  # noqa: E402,F401  (likewise)
from suite.activations.fused import cpu_pau  # noqa: E402,F401  (likewise)
from suite.activations.fused import cpu_bspline  # noqa: E402,F401  (likewise)
from suite.activations.fused import cpu_tropical  # noqa: E402,F401  (likewise)
from suite.activations.fused import cpu_hermite  # noqa: E402,F401  (likewise)

try:  # Triton kernels register for "cuda"; without Triton, CUDA runs the reference math
    import triton  # noqa: F401
except ImportError:
    triton = None
if triton is not None:
    from suite.activations.fused import cuda  # noqa: E402,F401
