"""Triton kernels for the sigmoid-gated units on CUDA: Swish-beta, ACON-C, Meta-ACON and
Sqish through one kernel of the form y = x (A + B sigmoid(K x + D)) (``gates``), and APALU.

x is viewed as [rows, inner], a row being one channel of one sample (or the whole tensor
for a per-layer unit), so a program's elements share one row's A..D. The backward returns
per-row sums of the four gradient terms, which are then summed down to each of A..D's
length (1, C or N*C); autograd carries them on to the unit's parameters:
    dy/dx = A + B s + B K x s(1-s),
    dy/dA = x,   dy/dB = x s,   dy/dK = B x^2 s(1-s),   dy/dD = B x s(1-s).
Saved for backward: x and the small parameter vectors, as on the CPU.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from suite.activations.fused import triton_blocks as blocks
from suite.activations.fused.gates import GATED_UNITS
from suite.activations.fused.native import NativeFunction

APALU_GATE = 1.702  # sigmoid(1.702 x) approximates the Gaussian CDF


@triton.jit
def _gated_fwd(x_ptr, a_ptr, b_ptr, k_ptr, d_ptr, y_ptr, inner, chunks, BLOCK: tl.constexpr):
    row, offs, mask = blocks.row_block(tl.program_id(0), chunks, inner, BLOCK)
    x = blocks.load_f32(x_ptr, offs, mask)
    s = tl.sigmoid(tl.load(k_ptr + row) * x + tl.load(d_ptr + row))
    y = x * (tl.load(a_ptr + row) + tl.load(b_ptr + row) * s)
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _gated_bwd(x_ptr, dy_ptr, a_ptr, b_ptr, k_ptr, d_ptr, dx_ptr, part_ptr, inner, chunks, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    row, offs, mask = blocks.row_block(pid, chunks, inner, BLOCK)
    x = blocks.load_f32(x_ptr, offs, mask)
    dy = blocks.load_f32(dy_ptr, offs, mask)
    a, b, k = tl.load(a_ptr + row), tl.load(b_ptr + row), tl.load(k_ptr + row)
    s = tl.sigmoid(k * x + tl.load(d_ptr + row))
    x_ds = x * (s - s * s)  # x s(1-s)
    tl.store(dx_ptr + offs, (dy * (a + b * s + b * k * x_ds)).to(dx_ptr.dtype.element_ty), mask=mask)
    dy_x = dy * x
    out = part_ptr + pid * 4
    tl.store(out, tl.sum(dy_x, axis=0))
    tl.store(out + 1, tl.sum(dy_x * s, axis=0))
    tl.store(out + 2, tl.sum(dy_x * x_ds, axis=0))  # times B per row, after
    tl.store(out + 3, tl.sum(dy * x_ds, axis=0))  # likewise


def _layout(x: torch.Tensor, channels: int) -> tuple[int, int]:
    """(rows, inner) of x viewed as one row per (sample, channel), or one row."""
    rows = 1 if channels == 1 else x.shape[0] * channels
    return rows, (x.numel() // rows if rows else 0)


def _per_row(p: torch.Tensor, rows: int) -> torch.Tensor:
    """A length-1, C or N*C vector as one float32 value per row (rows = N*C or 1)."""
    v = blocks.vector(p)
    return v.expand(rows).contiguous() if v.numel() == 1 else v.repeat(rows // v.numel())


def _down_to(row_sums: torch.Tensor, length: int, channels: int) -> torch.Tensor:
    """Per-row sums [rows] down to a parameter's length: 1, C or N*C (= rows)."""
    if length == row_sums.numel():
        return row_sums
    if length == 1:
        return row_sums.sum().reshape(1)
    return row_sums.reshape(-1, channels).sum(0)


def gated_forward(x, A, B, K, D, channels):
    rows, inner = _layout(x, channels)
    y = torch.empty_like(x)
    block = blocks.block_for(inner)
    programs, chunks = blocks.grid(rows, inner, block)
    if programs:
        _gated_fwd[(programs,)](x, *(_per_row(p, rows) for p in (A, B, K, D)), y, inner, chunks, BLOCK=block)
    return y


def gated_backward(x, dy, A, B, K, D, channels):
    rows, inner = _layout(x, channels)
    block = blocks.block_for(inner)
    programs, chunks = blocks.grid(rows, inner, block)
    dx = torch.empty_like(x)
    partial = blocks.partial_sums(programs, 4, x)
    b_rows = _per_row(B, rows)
    if programs:
        _gated_bwd[(programs,)](x, dy, _per_row(A, rows), b_rows, _per_row(K, rows), _per_row(D, rows),
                                dx, partial, inner, chunks, BLOCK=block)
    row_sums = partial.reshape(rows, chunks, 4).sum(1, dtype=torch.float64)
    row_sums[:, 2:] *= b_rows[:, None]  # dK and dD carry B
    grads = [_down_to(row_sums[:, s], p.numel(), channels).to(p.dtype) for s, p in enumerate((A, B, K, D))]
    return (dx, *grads)


def gated(x: torch.Tensor, channels: int, A, B, K, D) -> torch.Tensor:
    """x (A + B sigmoid(K x + D)) with A..D of length 1, C or N*C, differentiable in all."""
    flat = (p.reshape(-1) for p in (A, B, K, D))  # Meta-ACON's K is [N, C]: its gradient comes back flat
    return NativeFunction.apply(gated_forward, gated_backward, (channels,), x.contiguous(), *flat)


def gated_kernel(name: str):
    """The CUDA kernel of one gated unit (a name of ``GATED_UNITS``)."""
    unit = GATED_UNITS[name]

    def kernel(module, x):
        channels = unit.channels(module, x)
        if unit.needs_channels and (channels == 1 or x.dim() < 2):
            return module.reference_forward(x)
        return gated(x, channels, *unit.constants(module, x))

    kernel.__name__ = f"{name}_triton"
    return kernel


# --- APALU: a (x + x sigmoid(1.702 x)) for x >= 0, b expm1(x) below ---------------------
@triton.jit
def _expm1_nonpositive(x, e):
    """expm1(x) for x <= 0 from e = exp(x): e - 1 where that is exact to a few ulps
    (x <= -0.35), else the Taylor series to degree 7 (remainder below 2e-8 of the value);
    e - 1 alone is 100 % off for |x| < 6e-8. As csrc/gated.cpp's apalu_expm1."""
    series = 1.0 / 5040
    series = series * x + 1.0 / 720
    series = series * x + 1.0 / 120
    series = series * x + 1.0 / 24
    series = series * x + 1.0 / 6
    series = series * x + 0.5
    series = series * x + 1.0
    return tl.where(x > -0.35, series * x, e - 1.0)


@triton.jit
def _apalu_fwd(x_ptr, a_ptr, b_ptr, y_ptr, n, GATE: tl.constexpr, BLOCK: tl.constexpr):
    offs, mask = blocks.flat_block(tl.program_id(0), n, BLOCK)
    x = blocks.load_f32(x_ptr, offs, mask)
    positive = x >= 0
    negative = tl.minimum(x, 0.0)
    y = tl.where(positive, tl.load(a_ptr) * (x + x * tl.sigmoid(GATE * x)),
                 tl.load(b_ptr) * _expm1_nonpositive(negative, tl.exp(negative)))
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _apalu_bwd(x_ptr, dy_ptr, a_ptr, b_ptr, dx_ptr, part_ptr, n, GATE: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs, mask = blocks.flat_block(pid, n, BLOCK)
    x = blocks.load_f32(x_ptr, offs, mask)
    dy = blocks.load_f32(dy_ptr, offs, mask)
    positive = x >= 0
    s = tl.sigmoid(GATE * x)
    negative = tl.minimum(x, 0.0)
    e = tl.exp(negative)
    a, b = tl.load(a_ptr), tl.load(b_ptr)
    dx = tl.where(positive, a * (1.0 + s + GATE * x * (s - s * s)), b * e)
    tl.store(dx_ptr + offs, (dy * dx).to(dx_ptr.dtype.element_ty), mask=mask)
    tl.store(part_ptr + pid * 2, tl.sum(tl.where(positive, dy * (x + x * s), 0.0), axis=0))
    tl.store(part_ptr + pid * 2 + 1, tl.sum(tl.where(positive, 0.0, dy * _expm1_nonpositive(negative, e)), axis=0))


def apalu_forward(x, a, b):
    return blocks.flat_forward(_apalu_fwd, x, blocks.vector(a), blocks.vector(b), GATE=APALU_GATE)


def apalu_backward(x, dy, a, b):
    dx, sums = blocks.flat_backward(_apalu_bwd, x, dy, (blocks.vector(a), blocks.vector(b)), 2, GATE=APALU_GATE)
    return dx, sums[0:1].to(a.dtype), sums[1:2].to(b.dtype)


def apalu_kernel(module, x):
    return NativeFunction.apply(apalu_forward, apalu_backward, (), x.contiguous(), module.a, module.b)
