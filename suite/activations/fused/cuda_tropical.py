"""Triton kernels for the tropical units on CUDA:

    tropical:           y = s max_k (k x + c_k),   s = sqrt(2) / d,   k = 0..d,
    tropical rational:  y = max_k (p_k x + c_k) - max_k (q_k x + e_k).

Each maximum's gradient goes to its winning line: the backward finds the winner by one
compare per line (ties to the first line, a set of measure zero; the CPU kernels break
them the same way for the tropical unit's slopes 0..d) and sums dy and dy x per line
(dL/dc_k and dL/dp_k) per program; dx is dy times the winner's slope (or the difference
of the two winners' slopes).
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from suite.activations.fused import triton_blocks as blocks
from suite.activations.fused.native import NativeFunction


@triton.jit
def _winner(x, slope_ptr, offset_ptr, K: tl.constexpr):
    """(max_k slope_k x + offset_k, the first k reaching it, that line's slope)."""
    slope = tl.zeros_like(x) + tl.load(slope_ptr)
    best = slope * x + tl.load(offset_ptr)
    win = tl.zeros(x.shape, dtype=tl.int32)
    for k in tl.static_range(1, K + 1):
        p = tl.load(slope_ptr + k)
        line = p * x + tl.load(offset_ptr + k)
        better = line > best
        best = tl.where(better, line, best)
        win = tl.where(better, k, win)
        slope = tl.where(better, p, slope)
    return best, win, slope


@triton.jit
def _line_sums(out, win, dy, dy_x, K: tl.constexpr, WITH_X: tl.constexpr):
    """Per line k: sum of dy where k wins at out[k], and of dy x at out[K + 1 + k]."""
    for k in tl.static_range(K + 1):
        wins = win == k
        tl.store(out + k, tl.sum(tl.where(wins, dy, 0.0), axis=0))
        if WITH_X:
            tl.store(out + K + 1 + k, tl.sum(tl.where(wins, dy_x, 0.0), axis=0))


@triton.jit
def _rational_fwd(x_ptr, pn_ptr, cn_ptr, pd_ptr, cd_ptr, y_ptr, n, K: tl.constexpr, BLOCK: tl.constexpr):
    offs, mask = blocks.flat_block(tl.program_id(0), n, BLOCK)
    x = blocks.load_f32(x_ptr, offs, mask)
    top, _, _ = _winner(x, pn_ptr, cn_ptr, K)
    bottom, _, _ = _winner(x, pd_ptr, cd_ptr, K)
    tl.store(y_ptr + offs, (top - bottom).to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _rational_bwd(x_ptr, dy_ptr, pn_ptr, cn_ptr, pd_ptr, cd_ptr, dx_ptr, part_ptr, n,
                  K: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs, mask = blocks.flat_block(pid, n, BLOCK)
    x = blocks.load_f32(x_ptr, offs, mask)
    dy = blocks.load_f32(dy_ptr, offs, mask)
    _, win_n, slope_n = _winner(x, pn_ptr, cn_ptr, K)
    _, win_d, slope_d = _winner(x, pd_ptr, cd_ptr, K)
    tl.store(dx_ptr + offs, (dy * (slope_n - slope_d)).to(dx_ptr.dtype.element_ty), mask=mask)
    out = part_ptr + pid * 4 * (K + 1)
    dy_x = dy * x
    _line_sums(out, win_n, dy, dy_x, K, True)
    _line_sums(out + 2 * (K + 1), win_d, dy, dy_x, K, True)


@triton.jit
def _tropical_fwd(x_ptr, slope_ptr, c_ptr, scale, y_ptr, n, K: tl.constexpr, BLOCK: tl.constexpr):
    offs, mask = blocks.flat_block(tl.program_id(0), n, BLOCK)
    x = blocks.load_f32(x_ptr, offs, mask)
    best, _, _ = _winner(x, slope_ptr, c_ptr, K)
    tl.store(y_ptr + offs, (scale * best).to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _tropical_bwd(x_ptr, dy_ptr, slope_ptr, c_ptr, scale, dx_ptr, part_ptr, n, K: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs, mask = blocks.flat_block(pid, n, BLOCK)
    x = blocks.load_f32(x_ptr, offs, mask)
    dy = blocks.load_f32(dy_ptr, offs, mask)
    _, win, slope = _winner(x, slope_ptr, c_ptr, K)
    tl.store(dx_ptr + offs, (scale * slope * dy).to(dx_ptr.dtype.element_ty), mask=mask)
    _line_sums(part_ptr + pid * (K + 1), win, dy, dy, K, False)


def rational_forward(x, pn, cn, pd, cd):
    return blocks.flat_forward(_rational_fwd, x, *(blocks.vector(p) for p in (pn, cn, pd, cd)), K=pn.numel() - 1)


def rational_backward(x, dy, pn, cn, pd, cd):
    lines = pn.numel()
    dx, sums = blocks.flat_backward(_rational_bwd, x, dy, tuple(blocks.vector(p) for p in (pn, cn, pd, cd)),
                                    4 * lines, K=lines - 1)
    g_cn, g_pn, g_cd, g_pd = sums.reshape(4, lines)
    return dx, g_pn.to(pn.dtype), g_cn.to(cn.dtype), (-g_pd).to(pd.dtype), (-g_cd).to(cd.dtype)


def _fixed_lines(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The tropical unit's slopes 0..d, its offsets c and its scale sqrt(2) / d."""
    degree = c.numel() - 1
    return torch.arange(degree + 1, dtype=torch.float32, device=c.device), blocks.vector(c), math.sqrt(2) / degree


def tropical_forward(x, c):
    return blocks.flat_forward(_tropical_fwd, x, *_fixed_lines(c), K=c.numel() - 1)


def tropical_backward(x, dy, c):
    slopes, offsets, scale = _fixed_lines(c)
    dx, sums = blocks.flat_backward(_tropical_bwd, x, dy, (slopes, offsets, scale), c.numel(), K=c.numel() - 1)
    return dx, (scale * sums).to(c.dtype)


def tropical_rational_kernel(module, x):
    return NativeFunction.apply(rational_forward, rational_backward, (), x.contiguous(), module.powers_num,
                                module.coefficients_num, module.powers_denom, module.coefficients_denom)


def tropical_kernel(module, x):
    if module.coefficients.numel() < 2:
        return module.reference_forward(x)
    return NativeFunction.apply(tropical_forward, tropical_backward, (), x.contiguous(), module.coefficients)
