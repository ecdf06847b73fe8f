"""Fused CUDA kernels in Triton for PWLU (per layer) and Hermite.

Forward: one read of x, one write of y. Backward: one read of x and dy, one write of dx,
and the parameter gradients reduced inside each block (``tl.sum`` in registers) into a
[blocks, P] partial buffer that one small torch sum finishes: no atomics per element.
Math runs in fp32 whatever the input dtype (bf16 inputs are upcast in registers).

These kernels could not be run where they were written (no GPU there). So they are
trusted only after a self-check: the first time a kernel is asked for on a device, it is
compared with the module's reference on a small random input (values and gradients);
if it disagrees or fails to compile, the reference is used from then on, with a warning.
"""
from __future__ import annotations

import math
import warnings

import torch

from suite.activations.fused import register_kernel

try:  # Triton ships with CUDA builds of torch; CPU-only installs lack it.
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the install
    triton = None

BLOCK = 1024

if triton is not None:

    @triton.jit
    def _hermite_fwd(x_ptr, y_ptr, c_ptr, n, DEGREE: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        h_prev = tl.full([BLOCK], 1.0, tl.float32)
        h = x
        y = tl.load(c_ptr) + tl.load(c_ptr + 1) * h
        for k in tl.static_range(1, DEGREE):
            h_next = (x * h - h_prev) / (k + 1)
            h_prev = h
            h = h_next
            y += tl.load(c_ptr + k + 1) * h
        tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def _hermite_bwd(x_ptr, dy_ptr, dx_ptr, c_ptr, partial_ptr, n, DEGREE: tl.constexpr, BLOCK: tl.constexpr):
        pid = tl.program_id(0)
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        h_prev = tl.full([BLOCK], 1.0, tl.float32)
        h = x
        dx = tl.load(c_ptr + 1) * h_prev
        row = partial_ptr + pid * (DEGREE + 1)
        tl.store(row, tl.sum(dy, axis=0))
        tl.store(row + 1, tl.sum(dy * h, axis=0))
        for k in tl.static_range(1, DEGREE):
            dx += tl.load(c_ptr + k + 1) * h
            h_next = (x * h - h_prev) / (k + 1)
            h_prev = h
            h = h_next
            tl.store(row + k + 1, tl.sum(dy * h, axis=0))
        tl.store(dx_ptr + offs, (dy * dx).to(dx_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def _pwlu_fwd(x_ptr, y_ptr, h_ptr, geo_ptr, n, REGIONS: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        left, right = tl.load(geo_ptr), tl.load(geo_ptr + 1)
        k_left, k_right = tl.load(geo_ptr + 2), tl.load(geo_ptr + 3)
        width = (right - left) / REGIONS
        u = (x - left) / width
        idx = tl.minimum(tl.maximum(tl.floor(u), 0.0), REGIONS - 1.0)
        t = u - idx
        i = idx.to(tl.int32)
        y_lo = tl.load(h_ptr + i, mask=mask, other=0.0)
        y_hi = tl.load(h_ptr + i + 1, mask=mask, other=0.0)
        y = y_lo + t * (y_hi - y_lo)
        y = tl.where(x < left, (x - left) * k_left + tl.load(h_ptr), y)
        y = tl.where(x >= right, (x - right) * k_right + tl.load(h_ptr + REGIONS), y)
        tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def _pwlu_bwd(x_ptr, dy_ptr, dx_ptr, h_ptr, geo_ptr, partial_ptr, n, REGIONS: tl.constexpr, BLOCK: tl.constexpr):
        pid = tl.program_id(0)
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        left, right = tl.load(geo_ptr), tl.load(geo_ptr + 1)
        k_left, k_right = tl.load(geo_ptr + 2), tl.load(geo_ptr + 3)
        width = (right - left) / REGIONS
        u = (x - left) / width
        idx = tl.minimum(tl.maximum(tl.floor(u), 0.0), REGIONS - 1.0)
        t = u - idx
        i = idx.to(tl.int32)
        y_lo = tl.load(h_ptr + i, mask=mask, other=0.0)
        y_hi = tl.load(h_ptr + i + 1, mask=mask, other=0.0)
        is_left = x < left
        is_right = x >= right
        inside = (~is_left) & (~is_right)
        dx = tl.where(is_left, k_left, tl.where(is_right, k_right, (y_hi - y_lo) / width))
        tl.store(dx_ptr + offs, (dy * dx).to(dx_ptr.dtype.element_ty), mask=mask)
        # weight of the lower height (bin i) and of the upper one (bin i + 1)
        w_lo = tl.where(inside, dy * (1.0 - t), tl.where(is_left, dy, 0.0))
        w_hi = tl.where(inside, dy * t, tl.where(is_right, dy, 0.0))
        row = partial_ptr + pid * (REGIONS + 3)
        for j in tl.static_range(REGIONS + 1):
            g = tl.sum(tl.where(i == j, w_lo, 0.0), axis=0) + tl.sum(tl.where(i + 1 == j, w_hi, 0.0), axis=0)
            tl.store(row + j, g)
        tl.store(row + REGIONS + 1, tl.sum(tl.where(is_left, dy * (x - left), 0.0), axis=0))
        tl.store(row + REGIONS + 2, tl.sum(tl.where(is_right, dy * (x - right), 0.0), axis=0))


class _HermiteTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, c):
        x = x.contiguous()
        y = torch.empty_like(x)
        n = x.numel()
        c32 = c.float().contiguous()
        _hermite_fwd[(triton.cdiv(n, BLOCK),)](x, y, c32, n, DEGREE=c.numel() - 1, BLOCK=BLOCK)
        ctx.save_for_backward(x, c)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, c = ctx.saved_tensors
        n = x.numel()
        blocks = triton.cdiv(n, BLOCK)
        dx = torch.empty_like(x)
        partial = torch.empty(blocks, c.numel(), device=x.device, dtype=torch.float32)
        _hermite_bwd[(blocks,)](x, dy.contiguous(), dx, c.float().contiguous(), partial, n, DEGREE=c.numel() - 1, BLOCK=BLOCK)
        return dx, partial.sum(0).to(c.dtype)


class _PWLUTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, heights, left, right, k_left, k_right):
        x = x.contiguous()
        y = torch.empty_like(x)
        n = x.numel()
        geo = torch.cat([left, right, k_left, k_right]).float().contiguous()
        h = heights.reshape(-1).float().contiguous()
        _pwlu_fwd[(triton.cdiv(n, BLOCK),)](x, y, h, geo, n, REGIONS=h.numel() - 1, BLOCK=BLOCK)
        ctx.save_for_backward(x, heights, left, right, k_left, k_right)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, heights, left, right, k_left, k_right = ctx.saved_tensors
        n = x.numel()
        regions = heights.numel() - 1
        blocks = triton.cdiv(n, BLOCK)
        dx = torch.empty_like(x)
        partial = torch.empty(blocks, regions + 3, device=x.device, dtype=torch.float32)
        geo = torch.cat([left, right, k_left, k_right]).float().contiguous()
        _pwlu_bwd[(blocks,)](x, dy.contiguous(), dx, heights.reshape(-1).float().contiguous(), geo, partial, n,
                             REGIONS=regions, BLOCK=BLOCK)
        total = partial.sum(0)
        return (dx, total[: regions + 1].reshape(heights.shape).to(heights.dtype), None, None,
                total[regions + 1 : regions + 2].to(k_left.dtype), total[regions + 2 :].to(k_right.dtype))


def _hermite(module, x):
    return _HermiteTriton.apply(x, module.coefficients)


def _pwlu(module, x):
    if module.channels is not None:
        return module.reference_forward(x)  # per-channel PWLU: reference path on CUDA for now
    return _PWLUTriton.apply(x, module.heights, module.left_bound, module.right_bound, module.left_slope, module.right_slope)


_TRUSTED: dict[tuple[str, int], bool] = {}


def _self_checked(name: str, kernel):
    """Wrap ``kernel`` so its first use on a device compares it with the reference."""

    def checked(module, x):
        key = (name, x.device.index or 0)
        if key not in _TRUSTED:
            _TRUSTED[key] = _agrees(kernel, module, x.device)
        return kernel(module, x) if _TRUSTED[key] else module.reference_forward(x)

    return checked


def _agrees(kernel, module, device) -> bool:
    probe = (torch.randn(3, 5, 7, 11, device=device) * 3).requires_grad_()
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


if triton is not None:
    register_kernel("hermite", "cuda")(_self_checked("hermite", _hermite))
    register_kernel("pwlu", "cuda")(_self_checked("pwlu", _pwlu))
