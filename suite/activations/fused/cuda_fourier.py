"""Triton kernel for the Fourier activation on CUDA:

    y = a_0 + sum_{k=1..d} s_k cos(w_k x - phi_k),   s_k = a_k / k!.

Backward, with z_k = w_k x - phi_k:
    dx = -dy sum_k s_k w_k sin z_k,   dL/da_0 = sum dy,   dL/da_k = sum dy cos z_k / k!,
    dL/dw_k = -s_k sum dy x sin z_k,  dL/dphi_k = s_k sum dy sin z_k.
The frequencies are learnt, so every harmonic has its own cos and sin (the GPU's); the
kernel returns the 1 + 3 d sums per program and the host applies s_k and 1/k!.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from suite.activations.fused import triton_blocks as blocks
from suite.activations.fused.native import NativeFunction


@triton.jit
def _fourier_fwd(x_ptr, a0_ptr, s_ptr, w_ptr, phi_ptr, y_ptr, n, D: tl.constexpr, BLOCK: tl.constexpr):
    offs, mask = blocks.flat_block(tl.program_id(0), n, BLOCK)
    x = blocks.load_f32(x_ptr, offs, mask)
    y = tl.zeros_like(x) + tl.load(a0_ptr)
    for k in tl.static_range(D):
        y += tl.load(s_ptr + k) * tl.cos(tl.load(w_ptr + k) * x - tl.load(phi_ptr + k))
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _fourier_bwd(x_ptr, dy_ptr, s_ptr, w_ptr, phi_ptr, dx_ptr, part_ptr, n, D: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs, mask = blocks.flat_block(pid, n, BLOCK)
    x = blocks.load_f32(x_ptr, offs, mask)
    dy = blocks.load_f32(dy_ptr, offs, mask)
    out = part_ptr + pid * (1 + 3 * D)
    tl.store(out, tl.sum(dy, axis=0))
    slope = tl.zeros_like(x)
    dy_x = dy * x
    for k in tl.static_range(D):
        w = tl.load(w_ptr + k)
        z = w * x - tl.load(phi_ptr + k)
        sin_z = tl.sin(z)
        slope -= tl.load(s_ptr + k) * w * sin_z
        tl.store(out + 1 + k, tl.sum(dy * tl.cos(z), axis=0))
        tl.store(out + 1 + D + k, tl.sum(dy_x * sin_z, axis=0))
        tl.store(out + 1 + 2 * D + k, tl.sum(dy * sin_z, axis=0))
    tl.store(dx_ptr + offs, (dy * slope).to(dx_ptr.dtype.element_ty), mask=mask)


def _inverse_factorials(d: int, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor([1.0 / math.factorial(k) for k in range(1, d + 1)], dtype=torch.float32, device=like.device)


def fourier_forward(x, a0, a, w, phi):
    s = blocks.vector(a) * _inverse_factorials(a.numel(), x)
    return blocks.flat_forward(_fourier_fwd, x, blocks.vector(a0), s, blocks.vector(w), blocks.vector(phi), D=a.numel())


def fourier_backward(x, dy, a0, a, w, phi):
    d = a.numel()
    inv_fact = _inverse_factorials(d, x)
    s = blocks.vector(a) * inv_fact
    dx, sums = blocks.flat_backward(_fourier_bwd, x, dy, (s, blocks.vector(w), blocks.vector(phi)), 1 + 3 * d, D=d)
    cos_sums, x_sin_sums, sin_sums = sums[1:].reshape(3, d)
    s64 = s.double()
    return (dx, sums[0:1].to(a0.dtype), (cos_sums * inv_fact).to(a.dtype), (-s64 * x_sin_sums).to(w.dtype),
            (s64 * sin_sums).to(phi.dtype))


def fourier_kernel(module, x):
    return NativeFunction.apply(fourier_forward, fourier_backward, (), x.contiguous(), module.fundamental,
                                module.coefficients, module.frequencies, module.phases)
