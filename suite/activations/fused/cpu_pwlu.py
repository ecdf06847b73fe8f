"""Fused PWLU on the CPU: a small C++ extension (csrc/pwlu.cpp), built once on first use.

PWLU's heights gradient is a histogram: every element adds to the two heights around
it. torch.compile turns that scatter into per-element atomics (about 20x a copy's time
on 2 cores, measured), so the CPU kernel is hand-written instead: one pass forward, one
pass backward with per-thread gradient buffers. The build (~40 s, cached by torch in
$TORCH_EXTENSIONS_DIR or ~/.cache/torch_extensions, per CPU type since it targets the
build machine's vector instructions) needs a C++ compiler and ninja; if it fails the
unit falls back to its reference implementation after one warning.
"""
from __future__ import annotations

import threading
import warnings
from pathlib import Path

import torch

from suite.activations.fused import register_kernel

_SOURCE = Path(__file__).with_name("csrc") / "pwlu.cpp"
_LOCK = threading.Lock()
_EXTENSION = None
_FAILED = False
MAX_REGIONS = 256  # kMaxPoints - 1 in csrc/pwlu.cpp


def cpu_flags() -> str:
    """The CPU's feature flags as /proc/cpuinfo lists them (x86 "flags", ARM "Features");
    "" where there is no such file."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        return ""


def _cpu_tag() -> str:
    """The build uses -march=native: key the cached build by the CPU's feature flags so a
    home folder shared by different machines (a cluster) never loads a foreign build."""
    import hashlib
    import platform

    return hashlib.sha1((platform.machine() + cpu_flags()).encode()).hexdigest()[:10]


CFLAGS = ["-O3", "-fopenmp", "-march=native", "-fno-math-errno", "-fno-trapping-math"]


def build(extra_cflags: tuple[str, ...] = (), tag: str = ""):
    """Compile (or load torch's cached build of) csrc/pwlu.cpp for this CPU; ``extra_cflags``
    and a matching ``tag`` give variants, e.g. ``-mno-avx512f`` to test the AVX code path
    on an AVX-512 machine."""
    from torch.utils.cpp_extension import load

    return load(name=f"suite_pwlu_cpu_{_cpu_tag()}{tag}", sources=[str(_SOURCE)],
                extra_cflags=[*CFLAGS, *extra_cflags], extra_ldflags=["-fopenmp"], verbose=False)


def extension():
    """The compiled extension, or None where it cannot be built."""
    global _EXTENSION, _FAILED
    if _EXTENSION is not None or _FAILED:
        return _EXTENSION
    with _LOCK:
        if _EXTENSION is None and not _FAILED:
            try:
                _EXTENSION = build()
            except Exception as exc:  # noqa: BLE001 - no compiler, no ninja, ...
                _FAILED = True
                warnings.warn(f"fused PWLU kernel could not be built ({exc}); using the reference implementation", RuntimeWarning)
    return _EXTENSION


class PWLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, heights, left, right, left_slope, right_slope):
        ctx.save_for_backward(x, heights, left, right, left_slope, right_slope)
        return extension().forward(x, heights, left, right, left_slope, right_slope)

    @staticmethod
    def backward(ctx, dy):
        x, heights, left, right, left_slope, right_slope = ctx.saved_tensors
        dx, dh, dkl, dkr = extension().backward(x, dy, heights, left, right, left_slope, right_slope)
        return dx, dh, None, None, dkl, dkr


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
