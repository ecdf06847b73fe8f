"""Trust a GPU kernel only after it agreed with the reference once on that device.

The CUDA kernels were written and checked under Triton's CPU interpreter, not on a GPU.
So the first time a kernel is asked for on a device it is compared with the module's
reference on a small random input (values and gradients); if it disagrees, or fails to
compile, the reference is used from then on, after one warning. One check per kernel
and device: a few milliseconds once.
"""
from __future__ import annotations

import copy
import warnings

import torch

_TRUSTED: dict[tuple[str, str, bool], bool] = {}


def self_checked(name: str, kernel):
    """Wrap ``kernel`` so its first use on a device compares it with the reference."""

    def checked(module, x):
        # per-channel and per-layer units take different code paths: check each
        key = (name, str(x.device), getattr(module, "channels", None) is not None)
        if key not in _TRUSTED:
            _TRUSTED[key] = _agrees(kernel, module, x.device)
        return kernel(module, x) if _TRUSTED[key] else module.reference_forward(x)

    return checked


def _agrees(kernel, module, device) -> bool:
    # The check is of the kernel's math, in float32 on a copy of the unit: on a bfloat16
    # unit a float32 probe mixes dtypes that kernel and reference round differently
    # (PWLU's disagreed), which turned the kernel off for good in the runs that want it.
    module = copy.deepcopy(module).float()
    # dim 1 is the channels: a per-channel unit refuses any other count
    channels = getattr(module, "channels", None) or 5
    probe = (torch.randn(3, channels, 7, 11, device=device) * 3).requires_grad_()
    try:
        y_fast = kernel(module, probe)
        y_ref = module.reference_forward(probe)
        params = [p for p in module.parameters() if p.requires_grad]
        g_fast = torch.autograd.grad(y_fast.sum(), [probe, *params], allow_unused=True)
        g_ref = torch.autograd.grad(y_ref.sum(), [probe, *params], allow_unused=True)
        ok = torch.allclose(y_fast, y_ref, rtol=1e-4, atol=1e-4) and all(
            (a is None and b is None) or (a is not None and b is not None and torch.allclose(a, b, rtol=1e-3, atol=1e-3 * (1 + b.abs().max().item())))
            for a, b in zip(g_fast, g_ref)
        )
    except Exception as exc:  # noqa: BLE001 - compile errors, launch errors
        warnings.warn(f"Triton kernel {kernel.__name__} failed ({exc!r}); using the reference", RuntimeWarning)
        return False
    if not ok:
        warnings.warn(f"Triton kernel {kernel.__name__} disagrees with the reference; using the reference", RuntimeWarning)
    return ok


