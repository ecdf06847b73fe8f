"""What the Triton kernels of ``cuda_*`` share: block sizes, the 1-D grid over rows and
chunks, the per-program partial sums and what takes them.

Each backward program writes its S partial sums to its own row of a [programs, S]
float32 buffer, which one torch sum (in float64) finishes: no per-element atomics, and a
sum over millions of elements keeps its small terms. The grid is 1-D (program = row x
chunks + chunk) because CUDA caps the second grid axis at 65535, which a per-layer unit
on a large tensor, or the N x C rows of a per-channel one, can pass.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK = 1024  # elements per program
SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)  # computed in float32


def block_for(inner: int) -> int:
    """Elements per program for rows of ``inner`` elements: short rows (per-channel units
    on small maps) get a small block rather than a mostly masked one."""
    return max(16, min(BLOCK, triton.next_power_of_2(max(1, inner))))


def grid(rows: int, inner: int, block: int) -> tuple[int, int]:
    """(programs, chunks per row) of the 1-D grid."""
    chunks = triton.cdiv(inner, block)
    return rows * chunks, chunks


@triton.jit
def row_block(pid, chunks, inner, BLOCK: tl.constexpr):
    """(row, element offsets within the tensor, mask) of program pid of the 1-D grid."""
    row = pid // chunks
    offs = (pid % chunks) * BLOCK + tl.arange(0, BLOCK)
    return row, row.to(tl.int64) * inner + offs, offs < inner


@triton.jit
def flat_block(pid, n, BLOCK: tl.constexpr):
    """(element offsets, mask) of program pid over a flat tensor of n elements."""
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    return offs, offs < n


@triton.jit
def load_f32(ptr, offs, mask):
    """Elements at offs as float32; 0 in masked lanes, so they add nothing to a sum of dy terms."""
    return tl.load(ptr + offs, mask=mask, other=0.0).to(tl.float32)


def flat_forward(kernel, x: torch.Tensor, *params, **constants) -> torch.Tensor:
    """y by ``kernel(x, *params, y, n, **constants, BLOCK)`` over flat blocks of x (no
    launch for an empty x)."""
    y = torch.empty_like(x)
    n = x.numel()
    if n:
        kernel[(triton.cdiv(n, BLOCK),)](x, *params, y, n, **constants, BLOCK=BLOCK)
    return y


def flat_backward(kernel, x: torch.Tensor, dy: torch.Tensor, params: tuple, sums: int,
                  **constants) -> tuple[torch.Tensor, torch.Tensor]:
    """(dx, the [sums] float64 totals) by ``kernel(x, dy, *params, dx, partial, n,
    **constants, BLOCK)``, each program writing its ``sums`` partial sums to its row of
    partial (zeros for an empty x)."""
    n = x.numel()
    programs = triton.cdiv(n, BLOCK)
    dx = torch.empty_like(x)
    partial = partial_sums(programs, sums, x)
    if n:
        kernel[(programs,)](x, dy, *params, dx, partial, n, **constants, BLOCK=BLOCK)
    return dx, total(partial)


def partial_sums(programs: int, sums: int, like: torch.Tensor) -> torch.Tensor:
    return torch.empty(programs, sums, device=like.device, dtype=torch.float32)


def total(partial: torch.Tensor) -> torch.Tensor:
    """[programs, S] partial sums -> [S] float64 totals."""
    return partial.sum(0, dtype=torch.float64)


def takes(module, x: torch.Tensor) -> str | None:
    """``supports`` for the Triton kernels: None if they take x, else why not. float64
    runs the reference: the kernels compute in float32."""
    if x.dtype not in SUPPORTED_DTYPES:
        return f"dtype {str(x.dtype).removeprefix('torch.')} (the Triton kernels take float32, float16 and bfloat16)"
    return None


def vector(p: torch.Tensor) -> torch.Tensor:
    """A parameter as the contiguous float32 vector a kernel reads (detached: the kernels'
    autograd function returns the parameters' gradients itself)."""
    return p.detach().to(torch.float32).reshape(-1).contiguous()
