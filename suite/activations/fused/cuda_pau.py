"""Triton kernel for PAU (Padé activation unit) on CUDA, versions A and B:

    y = P(x) / q,   P(x) = sum_{k=0..m} a_k x^k,
    B: q = 1 + |r|,  r = sum_{k=1..n} b_k x^k;     A: q = 1 + r(|x|) with |b_k| for b_k.

Backward, with g = dy / q (dL/dP) and h = -g P / q (dL/dq):
    B: dx = g P'(x) + h sign(r) r'(x),      dL/db_k = sum h sign(r) x^k
    A: dx = g P'(x) + h sign(x) r'(|x|),    dL/db_k = sign(b_k) sum h |x|^k
    dL/da_k = sum g x^k.
P, r and their derivatives by Horner's rule (for A, r's coefficients arrive as |b_k|);
the m + 1 + n parameter-gradient sums from one running power of x (|x| for A's b_k),
per program; sign(b_k) is applied to the finished sums.
"""
from __future__ import annotations

import torch
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
def _denominator(x, den_ptr, N: tl.constexpr, VERSION_A: tl.constexpr):
    """(q, dq/dx) of the version, and the base whose powers the b_k gradients weigh."""
    if VERSION_A:
        t = tl.abs(x)
        r, dr = _horner(t, den_ptr, 1, N)
        sign_x = tl.where(x > 0, 1.0, tl.where(x < 0, -1.0, 0.0))
        return 1.0 + r, sign_x * dr, t, 1.0
    r, dr = _horner(x, den_ptr, 1, N)
    sign_r = tl.where(r > 0, 1.0, tl.where(r < 0, -1.0, 0.0))
    return 1.0 + tl.abs(r), sign_r * dr, x, sign_r


@triton.jit
def _pau_fwd(x_ptr, num_ptr, den_ptr, y_ptr, n, M: tl.constexpr, N: tl.constexpr, VERSION_A: tl.constexpr,
             BLOCK: tl.constexpr):
    offs, mask = blocks.flat_block(tl.program_id(0), n, BLOCK)
    x = blocks.load_f32(x_ptr, offs, mask)
    p, _ = _horner(x, num_ptr, 0, M)
    q, _, _, _ = _denominator(x, den_ptr, N, VERSION_A)
    tl.store(y_ptr + offs, (p / q).to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _pau_bwd(x_ptr, dy_ptr, num_ptr, den_ptr, dx_ptr, part_ptr, n,
             M: tl.constexpr, N: tl.constexpr, VERSION_A: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs, mask = blocks.flat_block(pid, n, BLOCK)
    x = blocks.load_f32(x_ptr, offs, mask)
    dy = blocks.load_f32(dy_ptr, offs, mask)
    p, dp = _horner(x, num_ptr, 0, M)
    q, dq, base, weight = _denominator(x, den_ptr, N, VERSION_A)
    g = dy / q
    h = -g * p / q
    tl.store(dx_ptr + offs, (g * dp + h * dq).to(dx_ptr.dtype.element_ty), mask=mask)
    out = part_ptr + pid * (M + 1 + N)
    power = tl.zeros_like(x) + 1.0
    for k in tl.static_range(0, M + 1):
        tl.store(out + k, tl.sum(g * power, axis=0))
        power = power * x
    hw = h * weight  # B: h sign(r); A: h (sign(b_k) comes after the sum)
    power = base
    for k in tl.static_range(1, N + 1):
        tl.store(out + M + k, tl.sum(hw * power, axis=0))
        power = power * base


def _denominator_vector(den, version_a):
    return blocks.vector(den).abs() if version_a else blocks.vector(den)


def pau_forward(x, num, den, version_a):
    return blocks.flat_forward(_pau_fwd, x, blocks.vector(num), _denominator_vector(den, version_a),
                               M=num.numel() - 1, N=den.numel(), VERSION_A=version_a)


def pau_backward(x, dy, num, den, version_a):
    m, d = num.numel() - 1, den.numel()
    dx, sums = blocks.flat_backward(_pau_bwd, x, dy, (blocks.vector(num), _denominator_vector(den, version_a)),
                                    m + 1 + d, M=m, N=d, VERSION_A=version_a)
    g_den = sums[m + 1:] * torch.sign(den.detach().float().reshape(-1)) if version_a else sums[m + 1:]
    return dx, sums[: m + 1].to(num.dtype), g_den.to(den.dtype)


def pau_kernel(module, x):
    return NativeFunction.apply(pau_forward, pau_backward, (module.version == "A",), x.contiguous(),
                                module.numerator, module.denominator)
