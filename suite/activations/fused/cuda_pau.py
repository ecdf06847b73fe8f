"""Triton kernel for PAU (Padé activation unit, version B) on CUDA:

    y = P(x) / q,   P(x) = sum_{k=0..m} a_k x^k,   q = 1 + |r|,   r = sum_{k=1..n} b_k x^k.

Backward, with g = dy / q (dL/dP) and h = -g P sign(r) / q (dL/dr):
    dx = g P'(x) + h r'(x),   dL/da_k = sum g x^k,   dL/db_k = sum h x^k.
P, r and their derivatives by Horner's rule; the m + 1 + n parameter-gradient sums from
one running power of x, per program.
"""
from __future__ import annotations

import triton
import triton.language as tl

from suite.activations.fused import triton_blocks as blocks
from suite.activations.fused.native import NativeFunction


@triton.jit
def _horner(x, c_ptr, FIRST: tl.constexpr, LAST: tl.constexpr):
    """(sum_{k=FIRST..LAST} c[k - FIRST] x^k, its derivative), by Horner's rule: first the
    polynomial of the stored coefficients, then FIRST more steps multiply it by x."""
    value = tl.zeros_like(x) + tl.load(c_ptr + LAST - FIRST)
    slope = tl.zeros_like(x)
    for i in tl.static_range(LAST - FIRST):
        slope = slope * x + value
        value = value * x + tl.load(c_ptr + LAST - FIRST - 1 - i)
    for _ in tl.static_range(FIRST):
        slope = slope * x + value
        value = value * x
    return value, slope


@triton.jit
def _pau_fwd(x_ptr, num_ptr, den_ptr, y_ptr, n, M: tl.constexpr, N: tl.constexpr, BLOCK: tl.constexpr):
    offs, mask = blocks.flat_block(tl.program_id(0), n, BLOCK)
    x = blocks.load_f32(x_ptr, offs, mask)
    p, _ = _horner(x, num_ptr, 0, M)
    r, _ = _horner(x, den_ptr, 1, N)
    tl.store(y_ptr + offs, (p / (1.0 + tl.abs(r))).to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _pau_bwd(x_ptr, dy_ptr, num_ptr, den_ptr, dx_ptr, part_ptr, n,
             M: tl.constexpr, N: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs, mask = blocks.flat_block(pid, n, BLOCK)
    x = blocks.load_f32(x_ptr, offs, mask)
    dy = blocks.load_f32(dy_ptr, offs, mask)
    p, dp = _horner(x, num_ptr, 0, M)
    r, dr = _horner(x, den_ptr, 1, N)
    inv_q = 1.0 / (1.0 + tl.abs(r))
    g = dy * inv_q
    sign_r = tl.where(r > 0, 1.0, tl.where(r < 0, -1.0, 0.0))
    h = -g * p * inv_q * sign_r
    tl.store(dx_ptr + offs, (g * dp + h * dr).to(dx_ptr.dtype.element_ty), mask=mask)
    out = part_ptr + pid * (M + 1 + N)
    power = tl.zeros_like(x) + 1.0
    for k in tl.static_range(0, M + 1):
        tl.store(out + k, tl.sum(g * power, axis=0))
        power = power * x
    power = x
    for k in tl.static_range(1, N + 1):
        tl.store(out + M + k, tl.sum(h * power, axis=0))
        power = power * x


def pau_forward(x, num, den):
    return blocks.flat_forward(_pau_fwd, x, blocks.vector(num), blocks.vector(den), M=num.numel() - 1, N=den.numel())


def pau_backward(x, dy, num, den):
    m, d = num.numel() - 1, den.numel()
    dx, sums = blocks.flat_backward(_pau_bwd, x, dy, (blocks.vector(num), blocks.vector(den)), m + 1 + d, M=m, N=d)
    return dx, sums[: m + 1].to(num.dtype), sums[m + 1:].to(den.dtype)


def pau_kernel(module, x):
    return NativeFunction.apply(pau_forward, pau_backward, (), x.contiguous(), module.numerator, module.denominator)
