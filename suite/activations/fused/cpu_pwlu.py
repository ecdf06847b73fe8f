"""Fused PWLU on the CPU: a small C++ extension (csrc/pwlu.cpp, built by ``native``).

PWLU's heights gradient is a histogram: every element adds to the two heights around
it. torch.compile turns that scatter into per-element atomics (about 20x a copy's time
on 2 cores, measured), so the CPU kernel is hand-written instead: one pass forward, one
pass backward with per-thread gradient buffers (every parameter's gradient, the learned
bounds' included). Where the extension cannot be built the unit runs its reference
implementation.
"""
from __future__ import annotations

import torch

from suite.activations.fused import register_kernel
from suite.activations.fused.native import NativeExtension

NATIVE = NativeExtension("pwlu", "pwlu.cpp", what="fused PWLU kernel")
MAX_REGIONS = 256  # kMaxPoints - 1 in csrc/pwlu.cpp


def extension():
    """The compiled extension, or None where it cannot be built."""
    return NATIVE.get()


class PWLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, heights, left, right, left_slope, right_slope):
        ctx.save_for_backward(x, heights, left, right, left_slope, right_slope)
        return extension().forward(x, heights, left, right, left_slope, right_slope)

    @staticmethod
    def backward(ctx, dy):
        x, heights, left, right, left_slope, right_slope = ctx.saved_tensors
        dx, dh, dkl, dkr, dleft, dright = extension().backward(x, dy, heights, left, right, left_slope, right_slope)
        # The bounds are buffers in pwlu_fixed (and during phase I nothing reaches here).
        if not ctx.needs_input_grad[2]:
            dleft = dright = None
        return dx, dh, dleft, dright, dkl, dkr


def supports(module, x) -> str | None:
    if x.dtype not in (torch.float32, torch.float64):
        return f"dtype {str(x.dtype).removeprefix('torch.')} (the CPU kernel takes float32 and float64)"
    if module.regions > MAX_REGIONS:
        return f"{module.regions} regions (the CPU kernel takes at most {MAX_REGIONS})"
    if extension() is None:
        return "the C++ extension could not be built (see the warning above)"
    return None


@register_kernel("pwlu", "cpu", supports=supports)
def pwlu_kernel(module, x):  # lookup() has checked supports() for this input
    if module.channels is not None and (x.dim() < 2 or x.shape[1] != module.channels):
        return module.reference_forward(x)  # raises the standard channel-mismatch error
    dt = x.dtype
    return PWLUFunction.apply(
        x.contiguous(), module.heights.to(dt), module.left_bound.to(dt), module.right_bound.to(dt),
        module.left_slope.to(dt), module.right_slope.to(dt),
    )
