"""Fused CUDA kernels written in Triton (imported only when Triton is available).

Same contract as the CPU kernels: forward reads x once and writes y; backward reads x
and dy once, writes dx, and reduces parameter gradients per block: each program writes
its partial sums to a [num_blocks, P] buffer that one small torch sum finishes, so there
are no per-element atomics. Only x and the parameters are saved for backward.

They can be checked without a GPU under Triton's interpreter (``TRITON_INTERPRET=1``
with CPU tensors), which is what tests/test_fused.py does when no CUDA device exists.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from suite.activations.fused import register_kernel

BLOCK = 1024


@triton.jit
def _hermite_fwd(x_ptr, c_ptr, y_ptr, n, DEGREE: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    h_prev = tl.full([BLOCK], 1.0, tl.float32)
    h = x
    y = tl.load(c_ptr) + tl.load(c_ptr + 1) * h
    for k in tl.static_range(1, DEGREE):
        h_next = (x * h - h_prev) * (1.0 / (k + 1))
        h_prev = h
        h = h_next
        y += tl.load(c_ptr + k + 1) * h
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _hermite_bwd(x_ptr, dy_ptr, c_ptr, dx_ptr, dc_partial_ptr, n,
                 DEGREE: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    # h_k = He_k / k!  =>  h_k' = h_{k-1}; dx = sum_{k>=1} c_k h_{k-1}
    h_prev = tl.full([BLOCK], 1.0, tl.float32)
    h = x
    dx = tl.load(c_ptr + 1) * h_prev
    row = dc_partial_ptr + pid * (DEGREE + 1)
    tl.store(row, tl.sum(dy, axis=0))
    tl.store(row + 1, tl.sum(dy * h, axis=0))
    for k in tl.static_range(1, DEGREE):
        dx += tl.load(c_ptr + k + 1) * h
        h_next = (x * h - h_prev) * (1.0 / (k + 1))
        h_prev = h
        h = h_next
        tl.store(row + k + 1, tl.sum(dy * h, axis=0))
    tl.store(dx_ptr + offs, (dy * dx).to(dx_ptr.dtype.element_ty), mask=mask)


class HermiteTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, c):
        xc = x.contiguous()
        cf = c.detach().float().contiguous()
        y = torch.empty_like(xc)
        n = xc.numel()
        _hermite_fwd[(triton.cdiv(n, BLOCK),)](xc, cf, y, n, DEGREE=c.shape[0] - 1, BLOCK=BLOCK)
        ctx.save_for_backward(xc, c)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, c = ctx.saved_tensors
        dy = dy.contiguous()
        n = x.numel()
        blocks = triton.cdiv(n, BLOCK)
        dx = torch.empty_like(x)
        partial = torch.empty(blocks, c.shape[0], device=x.device, dtype=torch.float32)
        _hermite_bwd[(blocks,)](x, dy, c.detach().float().contiguous(), dx, partial, n,
                                DEGREE=c.shape[0] - 1, BLOCK=BLOCK)
        return dx, partial.sum(0).to(c.dtype)


@register_kernel("hermite", "cuda")
def hermite_kernel(module, x):
    if module.coefficients.shape[0] < 2:
        return module.reference_forward(x)
    return HermiteTriton.apply(x, module.coefficients)
