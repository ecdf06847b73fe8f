"""Fused CUDA kernels written in Triton (imported only when Triton is available): Hermite
and PWLU here, the other families in cuda_gated, cuda_pau, cuda_fourier and
cuda_tropical (whose shared grid and sums are in triton_blocks), all registered below.

Same contract as the CPU kernels: forward reads x once and writes y; backward reads x
and dy once, writes dx, and reduces parameter gradients per block: each program writes
its partial sums to a [num_blocks, P] buffer that one small torch sum finishes, so there
are no per-element atomics. Only x and the parameters are saved for backward.

They can be checked without a GPU under Triton's interpreter (``TRITON_INTERPRET=1``
with CPU tensors), which is what tests/test_fused_triton.py does when no CUDA device exists.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from suite.activations.fused import register_kernel
from suite.activations.fused import triton_blocks as blocks
from suite.activations.fused.triton_blocks import row_block


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
        y = blocks.flat_forward(_hermite_fwd, xc, blocks.vector(c), DEGREE=c.shape[0] - 1)
        ctx.save_for_backward(xc, c)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, c = ctx.saved_tensors
        dx, sums = blocks.flat_backward(_hermite_bwd, x, dy.contiguous(), (blocks.vector(c),), c.shape[0],
                                        DEGREE=c.shape[0] - 1)
        return dx, sums.to(c.dtype)


@register_kernel("hermite", "cuda", supports=blocks.takes)  # float64 runs the reference: the kernel is float32
def hermite_kernel(module, x):
    if module.coefficients.shape[0] < 2:
        return module.reference_forward(x)
    return HermiteTriton.apply(x, module.coefficients)


# --- PWLU: one index + one interpolation; heights grads reduced per block into N+1 bins --
# x is viewed as [B, C, inner]; program (row, chunk) of the 1-D grid (triton_blocks)
# handles one contiguous chunk of one (batch, channel) row, so every element of a block
# shares one channel's parameters and the block's per-bin sums go to partial[row, chunk, :]
# (N+1 heights, left, right slope, then sum dx and sum dx w for the bounds: with
# w = clamp(u, 0, N) / N, 0 left of B_L and 1 right of B_R, dL/dB_R = -sum dx w and
# dL/dB_L = -sum dx (1 - w); csrc/pwlu.cpp derives them).
@triton.jit
def _pwlu_locate(x, lo_ptr, hi_ptr, h_ptr, ch, mask, N: tl.constexpr):
    """Bounds, region width, u = (x - B_L) / d, x's region index (as a float and an int), the
    unit's heights row and the two heights around x (shared by both passes)."""
    left = tl.load(lo_ptr + ch)
    right = tl.load(hi_ptr + ch)
    width = (right - left) / N
    u = (x - left) / width
    idx = tl.minimum(tl.maximum(tl.floor(u), 0.0), N - 1.0)
    i = idx.to(tl.int32)
    hrow = h_ptr + ch * (N + 1)
    y_lo = tl.load(hrow + i, mask=mask, other=0.0)
    y_hi = tl.load(hrow + i + 1, mask=mask, other=0.0)
    return left, right, width, u, idx, i, hrow, y_lo, y_hi


@triton.jit
def _pwlu_fwd(x_ptr, h_ptr, lo_ptr, hi_ptr, kl_ptr, kr_ptr, y_ptr, inner, C, chunks,
              PER_CHANNEL: tl.constexpr, N: tl.constexpr, BLOCK: tl.constexpr):
    row, offs, mask = row_block(tl.program_id(0), chunks, inner, BLOCK)
    ch = (row % C) if PER_CHANNEL else 0
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    left, right, width, u, idx, i, hrow, y_lo, y_hi = _pwlu_locate(x, lo_ptr, hi_ptr, h_ptr, ch, mask, N)
    y = y_lo + (u - idx) * (y_hi - y_lo)
    y = tl.where(x < left, (x - left) * tl.load(kl_ptr + ch) + tl.load(hrow), y)
    y = tl.where(x >= right, (x - right) * tl.load(kr_ptr + ch) + tl.load(hrow + N), y)
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _pwlu_bwd(x_ptr, dy_ptr, h_ptr, lo_ptr, hi_ptr, kl_ptr, kr_ptr, dx_ptr, part_ptr,
              inner, C, chunks, PER_CHANNEL: tl.constexpr, N: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    row, offs, mask = row_block(pid, chunks, inner, BLOCK)
    ch = (row % C) if PER_CHANNEL else 0
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    kl = tl.load(kl_ptr + ch)
    kr = tl.load(kr_ptr + ch)
    left, right, width, u, idx, i, hrow, y_lo, y_hi = _pwlu_locate(x, lo_ptr, hi_ptr, h_ptr, ch, mask, N)
    t = u - idx
    below = x < left
    above = x >= right
    inside = (~below) & (~above) & mask
    dx = tl.where(below, kl, tl.where(above, kr, (y_hi - y_lo) / width)) * dy
    tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)
    # per-element contributions to the two neighbouring heights (0 outside)
    w_lo = tl.where(inside, dy * (1.0 - t), 0.0)
    w_hi = tl.where(inside, dy * t, 0.0)
    out = part_ptr + pid * (N + 5)
    for j in tl.static_range(N + 1):
        s = tl.sum(tl.where(i == j, w_lo, 0.0), axis=0) + tl.sum(tl.where(i + 1 == j, w_hi, 0.0), axis=0)
        if j == 0:
            s += tl.sum(tl.where(below & mask, dy, 0.0), axis=0)
        if j == N:
            s += tl.sum(tl.where(above & mask, dy, 0.0), axis=0)
        tl.store(out + j, s)
    tl.store(out + N + 1, tl.sum(tl.where(below & mask, dy * (x - left), 0.0), axis=0))
    tl.store(out + N + 2, tl.sum(tl.where(above & mask, dy * (x - right), 0.0), axis=0))
    # w from the same compares as dx's slope, so x at a bound takes that bound's side exactly
    w = tl.where(below, 0.0, tl.where(above, 1.0, tl.minimum(tl.maximum(u, 0.0), N * 1.0) / N))
    tl.store(out + N + 3, tl.sum(dx, axis=0))  # masked lanes have dy = 0, so dx = 0
    tl.store(out + N + 4, tl.sum(dx * w, axis=0))


def _rows(x: torch.Tensor, per_channel: bool) -> tuple[int, int, int]:
    """(rows, inner, C) of x viewed as [rows, inner] with one channel per row."""
    if not per_channel:
        return 1, x.numel(), 1
    inner = math.prod(x.shape[2:])
    return x.shape[0] * x.shape[1], inner, x.shape[1]


class PWLUTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, heights, left, right, left_slope, right_slope, per_channel):
        x = x.contiguous()
        params = [p.detach().float().contiguous() for p in (heights, left, right, left_slope, right_slope)]
        rows, inner, C = _rows(x, per_channel)
        y = torch.empty_like(x)
        block = blocks.block_for(inner)
        programs, chunks = blocks.grid(rows, inner, block)
        if programs:
            _pwlu_fwd[(programs,)](x, *params, y, inner, C, chunks, PER_CHANNEL=per_channel,
                                   N=heights.shape[-1] - 1, BLOCK=block)
        ctx.per_channel = per_channel
        ctx.save_for_backward(x, heights, left, right, left_slope, right_slope)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, heights, left, right, left_slope, right_slope = ctx.saved_tensors
        params = [p.detach().float().contiguous() for p in (heights, left, right, left_slope, right_slope)]
        rows, inner, C = _rows(x, ctx.per_channel)
        block = blocks.block_for(inner)
        programs, chunks = blocks.grid(rows, inner, block)
        n = heights.shape[-1] - 1
        dx = torch.empty_like(x)
        partial = blocks.partial_sums(programs, n + 5, x)
        if programs:
            _pwlu_bwd[(programs,)](x, dy.contiguous(), *params, dx, partial, inner, C, chunks,
                                   PER_CHANNEL=ctx.per_channel, N=n, BLOCK=block)
        sums = partial.reshape(rows // C, C, chunks, n + 5).sum((0, 2), dtype=torch.float64)  # [C, N+5]
        dh = sums[:, : n + 1].to(heights.dtype)
        dkl = sums[:, n + 1].to(left_slope.dtype).reshape(left_slope.shape)
        dkr = sums[:, n + 2].to(right_slope.dtype).reshape(right_slope.shape)
        dleft = dright = None
        if ctx.needs_input_grad[2] or ctx.needs_input_grad[3]:  # learned bounds (not pwlu_fixed)
            dright = -sums[:, n + 4]
            dleft = (-sums[:, n + 3] - dright).to(left.dtype).reshape(left.shape)
            dright = dright.to(right.dtype).reshape(right.shape)
        return dx, dh, dleft, dright, dkl, dkr, None


@register_kernel("pwlu", "cuda")
def pwlu_kernel(module, x):
    per_channel = module.channels is not None
    if per_channel and (x.dim() < 2 or x.shape[1] != module.channels):
        return module.reference_forward(x)  # raises the standard channel-mismatch error
    return PWLUTriton.apply(x, module.heights, module.left_bound, module.right_bound,
                            module.left_slope, module.right_slope, per_channel)


# The other families' Triton kernels (cuda_gated, cuda_pau, cuda_fourier, cuda_tropical):
# float32, float16 and bfloat16 inputs; float64 runs the reference.
from suite.activations.fused import cuda_fourier, cuda_gated, cuda_pau, cuda_tropical  # noqa: E402
from suite.activations.fused.gates import GATED_UNITS  # noqa: E402

TRITON_KERNELS = {
    **{name: cuda_gated.gated_kernel(name) for name in GATED_UNITS},
    "apalu": cuda_gated.apalu_kernel,
    "pau": cuda_pau.pau_kernel,
    "fourier": cuda_fourier.fourier_kernel,
    "tropical": cuda_tropical.tropical_kernel,
    "tropical_rational": cuda_tropical.tropical_rational_kernel,
}
for _name, _kernel in TRITON_KERNELS.items():
    register_kernel(_name, "cuda", supports=blocks.takes)(_kernel)

# Kernels that never ran on a GPU where they were written: checked on first use.
from suite.activations.fused import _KERNELS  # noqa: E402
from suite.activations.fused.selfcheck import self_checked  # noqa: E402

for _name in ("hermite", "pwlu", *TRITON_KERNELS):
    _KERNELS[(_name, "cuda")] = self_checked(_name, _KERNELS[(_name, "cuda")])
