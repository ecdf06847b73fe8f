"""Fused CPU kernels: one custom autograd function per learnable activation.

Forward and backward are each one function compiled by torch.compile (inductor emits
vectorised, OpenMP-parallel C++): the forward reads x once and writes y; the backward
reads x and dy once, writes dx and reduces the parameter gradients in the same pass
(inductor's reductions keep per-thread partial sums, no per-element atomics; a backward
with more than 15 sums is split in two passes unless marked ``one_pass``, which is
faster only where its math is costly to redo, as Fourier's). Only the
input and the small parameter tensors are saved for backward, never intermediates: the
backward recomputes them, which is cheaper than storing and reloading them.

Each kernel is the pair (forward_math, backward_math) of plain tensor functions below;
``FusedActivation`` wires a pair into autograd. If torch.compile is unavailable or fails
the same math runs eagerly (correct, slower) after a single warning.

The sigmoid-gated units (Swish-beta, ACON-C, Meta-ACON, Sqish, APALU), Hermite, Fourier,
PAU, the KAN B-spline and the two tropical units are registered by ``cpu_gated``,
``cpu_hermite``, ``cpu_fourier``, ``cpu_pau``, ``cpu_bspline`` and ``cpu_tropical``, whose
C++ kernels take float32 inputs; their kernels here serve the rest.
"""
from __future__ import annotations

import functools
import math
import warnings

import torch
import torch.nn.functional as F

from suite.activations.base import along_channels
from suite.activations.learnable_simple import acon
from suite.activations.fused import register_kernel

_COMPILED: dict = {}
_WARNED = False


def one_pass(fn):
    """Mark a backward whose element-wise math is costly to recompute: compile it so dx
    and every parameter-gradient sum share one loop.

    Inductor's C++ backend fuses at most ``cpp.max_horizontal_fusion_size`` (16) nodes
    side by side; a backward with more sums (Fourier of degree 5: 16 sums and dx) is
    otherwise split into two passes that each recompute the cos/sin (Fourier degree 5
    backward on 3.2M elements: 9.0 ms in two passes, 7.0 ms in one). Where the
    recomputation is cheap (tropical rational: compares only), two passes are as fast or
    faster (4.1 ms against 4.5 ms), so this is opt-in."""
    from torch._inductor import config

    if hasattr(config.cpp, "max_horizontal_fusion_size"):
        fn.inductor_options = {"cpp.max_horizontal_fusion_size": 64}
    return fn


def compiled(fn):
    """torch.compile(fn) cached per function, with an eager fallback on failure."""
    if fn not in _COMPILED:
        _COMPILED[fn] = torch.compile(fn, dynamic=None, fullgraph=True, options=getattr(fn, "inductor_options", None))
    compiled_fn = _COMPILED[fn]

    def run(*args):
        global _WARNED
        if _COMPILED.get(fn) is fn:  # compile failed earlier: stay eager
            return fn(*args)
        try:
            return compiled_fn(*args)
        except Exception as exc:  # noqa: BLE001 - any compiler failure -> eager math
            if not _WARNED:
                warnings.warn(f"torch.compile failed for fused activation kernels ({exc!r}); running them eagerly", RuntimeWarning)
                _WARNED = True
            _COMPILED[fn] = fn
            return fn(*args)

    return run


class FusedActivation(torch.autograd.Function):
    """y = forward_math(x, *params); backward_math(x, dy, *params) -> (dx, *dparams)."""

    @staticmethod
    def forward(ctx, forward_math, backward_math, x, *params):
        ctx.backward_math = backward_math
        ctx.save_for_backward(x, *params)
        return compiled(forward_math)(x, *params)

    @staticmethod
    def backward(ctx, dy):
        x, *params = ctx.saved_tensors
        grads = compiled(ctx.backward_math)(x, dy.contiguous(), *params)
        return (None, None, *grads)


def apply(forward_math, backward_math, x, *params):
    x = x.contiguous()
    # Parameters enter the math in the input's dtype; their gradients go back in theirs.
    cast = [p.to(x.dtype) for p in params]
    return FusedActivation.apply(forward_math, backward_math, x, *cast)


def reduce_like(g: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Sum an element-wise gradient down to a [1] or [C] parameter's shape."""
    if p.shape[0] == 1:
        return g.sum().reshape(1)
    dims = [d for d in range(g.dim()) if d != 1]
    return g.sum(dims)


# --- Hermite: y = sum_k c_k h_k(x), h_k = He_k / k!, h_{k+1} = (x h_k - h_{k-1}) / (k+1) ---
def hermite_forward(x, c):
    h_prev, h = torch.ones_like(x), x
    y = c[0] + c[1] * h
    for k in range(1, c.shape[0] - 1):
        h_prev, h = h, (x * h - h_prev) * (1.0 / (k + 1))
        y = y + c[k + 1] * h
    return y


def hermite_backward(x, dy, c):
    # d/dx h_k = h_{k-1} (since He_k' = k He_{k-1}), so dx = sum_{k>=1} c_k h_{k-1}.
    h_prev, h = torch.ones_like(x), x
    dx = c[1] * h_prev
    dc = [dy.sum(), (dy * h).sum()]
    for k in range(1, c.shape[0] - 1):
        dx = dx + c[k + 1] * h
        h_prev, h = h, (x * h - h_prev) * (1.0 / (k + 1))
        dc.append((dy * h).sum())
    return dy * dx, torch.stack(dc)


@register_kernel("hermite", "cpu")
def hermite_kernel(module, x):
    if module.coefficients.shape[0] < 2:
        return module.reference_forward(x)
    return apply(hermite_forward, hermite_backward, x, module.coefficients)


# --- Swish with learnable beta: y = x sigmoid(beta x) ---
def swish_beta_forward(x, beta):
    return x * torch.sigmoid(along_channels(beta, x) * x)


def swish_beta_backward(x, dy, beta):
    b = along_channels(beta, x)
    s = torch.sigmoid(b * x)
    ds = s * (1 - s)
    return dy * (s + b * x * ds), reduce_like(dy * x * x * ds, beta)


def swish_beta_kernel(module, x):
    return apply(swish_beta_forward, swish_beta_backward, x, module.beta)


# --- ACON-C: y = (p1-p2) x sigmoid(beta (p1-p2) x) + p2 x; Meta-ACON: beta per sample ---
def _acon_gradient_terms(x, dy, dp, beta, p2):
    """Element-wise dx and the terms whose sums are the gradients of p1, p2 and beta."""
    z = beta * dp * x
    s = torch.sigmoid(z)
    ds = s * (1 - s)
    d_dp = x * (s + z * ds)  # d/d(p1-p2) of the gated term
    dx = dy * (dp * (s + z * ds) + p2)
    return dx, dy * d_dp, dy * (x - d_dp), dy * (dp * x) ** 2 * ds


def acon_forward(x, p1, p2, beta):
    return acon(x, along_channels(p1, x), along_channels(p2, x), along_channels(beta, x))


def acon_backward(x, dy, p1, p2, beta):
    dx, t1, t2, tb = _acon_gradient_terms(x, dy, along_channels(p1 - p2, x), along_channels(beta, x), along_channels(p2, x))
    return dx, reduce_like(t1, p1), reduce_like(t2, p2), reduce_like(tb, beta)


def acon_kernel(module, x):
    return apply(acon_forward, acon_backward, x, module.p1, module.p2, module.beta)


def meta_acon_forward(x, p1, p2, beta):  # beta: [N, C, 1, ...], already broadcastable
    return acon(x, along_channels(p1, x), along_channels(p2, x), beta)


def meta_acon_backward(x, dy, p1, p2, beta):
    dx, t1, t2, tb = _acon_gradient_terms(x, dy, along_channels(p1 - p2, x), beta, along_channels(p2, x))
    spatial = tuple(range(2, x.dim()))
    return dx, reduce_like(t1, p1), reduce_like(t2, p2), tb.sum(spatial, keepdim=True) if spatial else tb


def meta_acon_kernel(module, x):
    # The switch (pooling and two 1x1 convolutions) stays in autograd: it is small, and
    # its gradient arrives through the beta gradient the fused backward returns.
    return apply(meta_acon_forward, meta_acon_backward, x, module.p1, module.p2, module.switch(x))


# --- APALU: a (x + x sigmoid(1.702 x)) for x >= 0, b expm1(x) below ---
# One exp per element gives the sigmoid where x >= 0 (exp(-1.702 x)) and e^x below; the
# ELU part is torch.expm1, since e^x - 1 loses every digit as x -> 0 (100 % off for
# |x| < 6e-8 in float32). These kernels serve float64 and bfloat16 (float32 runs the C++
# kernel), where the second transcendental costs little.
def _apalu_exp(x, positive):
    return torch.exp(torch.where(positive, -1.702 * x, x))


def apalu_forward(x, a, b):
    positive = x >= 0
    e = _apalu_exp(x, positive)
    return torch.where(positive, a * (x + x / (1 + e)), b * torch.expm1(torch.clamp(x, max=0)))


def apalu_backward(x, dy, a, b):
    positive = x >= 0
    e = _apalu_exp(x, positive)
    s = 1 / (1 + e)  # sigmoid(1.702 x) where x >= 0
    dx = torch.where(positive, a * (1 + s + 1.702 * x * s * (1 - s)), b * e)
    g_a = torch.where(positive, x + x * s, 0.0)
    g_b = torch.where(positive, 0.0, torch.expm1(torch.clamp(x, max=0)))
    return dy * dx, (dy * g_a).sum().reshape(1), (dy * g_b).sum().reshape(1)


def apalu_kernel(module, x):
    return apply(apalu_forward, apalu_backward, x, module.a, module.b)


# --- Fourier: y = a0 + sum_k (a_k/k!) cos(w_k x - phi_k) ---
# cos and sin by a shared range reduction to [-pi, pi] (2 pi split in two floats, so the
# reduction is exact to float32 for |w x| up to thousands) and Taylor polynomials to
# degree 16/17, whose remainder at pi is below 2e-7. Inductor vectorises them into plain
# FMAs: about 3x faster here than its calls to Sleef's cos/sin, at an absolute error of
# under 1e-6 (tests/test_fused.py checks it against float64 over |z| <= 100). float64
# inputs take torch's cos and sin instead: the kernel must be as exact as the reference.
_TWO_PI_HI = 6.28125  # 2 pi = HI + LO, HI with few mantissa bits so n * HI is exact
_TWO_PI_LO = 2 * math.pi - _TWO_PI_HI
_COS_TAYLOR = [(-1) ** k / math.factorial(2 * k) for k in range(9)]
_SIN_TAYLOR = [(-1) ** k / math.factorial(2 * k + 1) for k in range(9)]


def _polynomial(t, coeffs):
    out = coeffs[-1] + torch.zeros_like(t)
    for c in reversed(coeffs[:-1]):
        out = out * t + c
    return out


def _reduce(z):
    n = torch.round(z * (1 / (2 * math.pi)))
    return (z - n * _TWO_PI_HI) - n * _TWO_PI_LO


def fast_cos(z):
    if z.dtype == torch.float64:  # the polynomials are float32-accurate only
        return torch.cos(z)
    r = _reduce(z)
    return _polynomial(r * r, _COS_TAYLOR)


def fast_cos_sin(z):
    if z.dtype == torch.float64:
        return torch.cos(z), torch.sin(z)
    r = _reduce(z)
    r2 = r * r
    return _polynomial(r2, _COS_TAYLOR), r * _polynomial(r2, _SIN_TAYLOR)


def fourier_forward(x, a0, a, w, phi):
    y = a0 + torch.zeros_like(x)
    for k in range(a.shape[0]):
        y = y + a[k] * (1.0 / math.factorial(k + 1)) * fast_cos(w[k] * x - phi[k])
    return y


@one_pass
def fourier_backward(x, dy, a0, a, w, phi):
    dx = torch.zeros_like(x)
    g_a, g_w, g_phi = [], [], []
    for k in range(a.shape[0]):
        inv = 1.0 / math.factorial(k + 1)
        c, s = fast_cos_sin(w[k] * x - phi[k])
        dx = dx - a[k] * inv * w[k] * s
        g_a.append((dy * c).sum() * inv)
        ds = (dy * s).sum()
        g_w.append(-a[k] * inv * (dy * s * x).sum())
        g_phi.append(a[k] * inv * ds)
    return dy * dx, dy.sum().reshape(1), torch.stack(g_a), torch.stack(g_w), torch.stack(g_phi)


def fourier_kernel(module, x):
    return apply(fourier_forward, fourier_backward, x, module.fundamental, module.coefficients, module.frequencies, module.phases)


# --- Tropical: y = (sqrt(2)/d) max_k (k x + c_k) ---
def _max_of_lines(x, slopes, offsets):
    """max_k (slopes_k x + offsets_k): the forward needs no argmax, and a chain of
    maximums is one vector instruction per line where compare-and-select is three."""
    best = slopes[0] * x + offsets[0]
    for k in range(1, offsets.shape[0]):
        best = torch.maximum(best, slopes[k] * x + offsets[k])
    return best


def tropical_forward(x, c):
    d = c.shape[0] - 1
    return _max_of_lines(x, range(d + 1), c) * (math.sqrt(2) / d)


def envelope_breakpoints(slopes, offsets):
    """For lines slopes_k x + offsets_k with slopes in ascending order: b_1..b_n such
    that the first maximum has index >= j exactly where x > b_j.

    The maximum of lines is convex, so the winning line's slope only grows with x: the
    lines k >= j overtake all lines i < j at one point and stay above. Line k beats
    line i < k where x > (offsets_i - offsets_k) / (slopes_k - slopes_i) (everywhere or
    nowhere if the slopes are equal), so it beats every i < j beyond the largest of
    those crossings, and some k >= j does beyond the smallest of those. Lines that never
    reach the envelope give equal breakpoints (an empty region)."""
    n = slopes.shape[0]
    idx = torch.arange(n, device=slopes.device)
    i, k = idx[:, None], idx[None, :]
    rise = slopes[None, :] - slopes[:, None]  # [i, k]: slope_k - slope_i, >= 0 where i < k
    gap = offsets[:, None] - offsets[None, :]  # [i, k]: offset_i - offset_k
    crossing = torch.where(rise > 0, gap / torch.where(rise > 0, rise, 1.0),
                           torch.where(gap < 0, -math.inf, math.inf))  # where line k overtakes line i
    j = idx[1:, None, None]
    beats_lower = torch.where(i[None] < j, crossing[None], -math.inf).amax(1)  # [j, k]: k beats all i < j
    return torch.where(k >= idx[1:, None], beats_lower, math.inf).amin(1)


def _at_least_float32(*tensors):
    """Breakpoints are quotients of parameter differences: in bf16 they would be off by
    up to 0.4 % and hand the gradient near a kink to the wrong line."""
    dtype = torch.promote_types(tensors[0].dtype, torch.float32)
    return [t.to(dtype) for t in tensors]


def _envelope_gradient_terms(x, dy, slopes, offsets, dy_x=None, ascending=False):
    """For y = max_k (slopes_k x + offsets_k): the slope of the winning line at each x,
    and the gradients of the offsets and (given ``dy_x`` = dy x) of the slopes: sums of
    dy and of dy x where each line wins.

    The lines are sorted by slope unless ``ascending`` says they already are (skipping the
    sort measured 12 % faster for tropical); the sort is stable, so of two identical lines
    the first takes the whole gradient, and at a kink the line of least slope does (the
    breakpoints are strict), which is the reference's rule (tropical.max_of_lines).
    The winner's rank is then the number of breakpoints below x, and the sums where a line
    wins are differences of sums above consecutive breakpoints. Per element and
    breakpoint: one compare, one add and one or two masked sums, against a line
    evaluation, a compare and several masked sums per line for the argmax."""
    n = slopes.shape[0]
    if ascending:
        sorted_slopes, sorted_offsets = slopes, offsets
    else:
        sorted_slopes, order = torch.sort(slopes, stable=True)
        sorted_offsets = offsets[order]
    b = envelope_breakpoints(*_at_least_float32(sorted_slopes, sorted_offsets))
    x_wide = x.to(b.dtype)  # a bf16 x against a 0-dim float32 b_j would round b_j to bf16
    slope = sorted_slopes[0] + torch.zeros_like(x)
    weights = [dy] if dy_x is None else [dy, dy_x]
    above = [[w.sum()] for w in weights]  # per weight: its sums where x > b_j (j = 0: everywhere)
    for j in range(1, n):
        over = x_wide > b[j - 1]
        slope = slope + torch.where(over, sorted_slopes[j] - sorted_slopes[j - 1], 0.0)
        for sums, w in zip(above, weights):
            sums.append(torch.where(over, w, 0.0).sum())
    wins = []  # per weight: its sum over the inputs where each original line wins
    for sums in above:
        sums.append(torch.zeros_like(sums[0]))
        wins.append(torch.stack([sums[r] - sums[r + 1] for r in range(n)]))
    if not ascending:
        rank = torch.argsort(order)  # sorted position of each original line
        wins = [w[rank] for w in wins]
    g_offsets = wins[0]
    g_slopes = wins[1] if dy_x is not None else None
    return slope, g_slopes, g_offsets


def tropical_backward(x, dy, c):
    # The slopes are fixed (0..d): only the coefficients get a gradient, and the winning
    # line's slope is its index.
    d = c.shape[0] - 1
    slopes = torch.arange(d + 1, dtype=c.dtype, device=c.device)
    slope, _, g_c = _envelope_gradient_terms(x, dy, slopes, c, ascending=True)
    scale = math.sqrt(2) / d
    return dy * slope * scale, g_c * scale


@register_kernel("tropical", "cpu")
def tropical_kernel(module, x):
    return apply(tropical_forward, tropical_backward, x, module.coefficients)


# --- Tropical rational: y = max_k (p_k x + c_k) - max_k (q_k x + d_k) ---
def tropical_rational_forward(x, pn, cn, pd, cd):
    return _max_of_lines(x, pn, cn) - _max_of_lines(x, pd, cd)


def tropical_rational_backward(x, dy, pn, cn, pd, cd):
    dy_x = dy * x
    slope_num, g_pn, g_cn = _envelope_gradient_terms(x, dy, pn, cn, dy_x)
    slope_den, g_pd, g_cd = _envelope_gradient_terms(x, dy, pd, cd, dy_x)
    return dy * (slope_num - slope_den), g_pn, g_cn, -g_pd, -g_cd


@register_kernel("tropical_rational", "cpu")
def tropical_rational_kernel(module, x):
    return apply(tropical_rational_forward, tropical_rational_backward, x,
                 module.powers_num, module.coefficients_num, module.powers_denom, module.coefficients_denom)


# --- PReLU: y = max(0, x) + a min(0, x) ---
def prelu_forward(x, a):
    return torch.where(x > 0, x, along_channels(a, x) * x)


def prelu_backward(x, dy, a):
    # at x = 0 the slope is a, as the reference's and torch.nn.PReLU's
    slope = torch.where(x > 0, 1.0, along_channels(a, x))
    return dy * slope, reduce_like(dy * torch.clamp(x, max=0), a)


@register_kernel("prelu", "cpu")
def prelu_kernel(module, x):
    return apply(prelu_forward, prelu_backward, x, module.weight)


# --- Sqish: y = alpha x + (1 - alpha) x sigmoid(2 gamma (1 - alpha) x - log beta) ---
def sqish_forward(x, alpha, gamma, log_beta):
    a, g = along_channels(alpha, x), along_channels(gamma, x)
    return a * x + (1 - a) * x * torch.sigmoid(2 * g * (1 - a) * x - log_beta)


def sqish_backward(x, dy, alpha, gamma, log_beta):
    a, g = along_channels(alpha, x), along_channels(gamma, x)
    s = torch.sigmoid(2 * g * (1 - a) * x - log_beta)
    ds = s * (1 - s)  # d sigmoid / dz
    dx = a + (1 - a) * (s + x * ds * 2 * g * (1 - a))
    d_alpha = x - x * s - (1 - a) * x * ds * 2 * g * x
    d_gamma = (1 - a) * x * ds * 2 * (1 - a) * x
    return dy * dx, reduce_like(dy * d_alpha, alpha), reduce_like(dy * d_gamma, gamma), torch.zeros_like(log_beta)


def sqish_kernel(module, x):
    log_beta = torch.full((1,), math.log(module.beta), dtype=x.dtype, device=x.device)
    return apply(sqish_forward, sqish_backward, x, module.alpha, module.gamma, log_beta)


# --- KAN B-spline: y = w_b silu(x) + w_s sum_i c_i B_i(x) ---
# The basis is unrolled over its (static) number of functions, so each B_i is one
# element-wise expression instead of the reference's x.shape + [G+k] tensors.
def _bspline_bases(x, t, order):
    """Order-(order-1) and order-``order`` bases (lists over i) at x; Cox-de Boor on knots t."""
    basis = [((x >= t[i]) & (x < t[i + 1])).to(x.dtype) for i in range(t.shape[0] - 1)]
    lower = basis
    for p in range(1, order + 1):
        lower = basis
        # reciprocals of the knot spans: scalars, so the element-wise work has no division
        inv = [1 / (t[i + p] - t[i]) for i in range(len(lower))]
        basis = [(x - t[i]) * inv[i] * lower[i] + (t[i + p + 1] - x) * inv[i + 1] * lower[i + 1]
                 for i in range(len(lower) - 1)]
    return lower, basis


@functools.lru_cache(maxsize=None)
def bspline_math(order: int):
    """(forward, backward) for splines of this order: the order shapes the unrolled
    expression, so each order gets its own pair (and its own compiled code)."""

    def forward(x, coefficients, base_weight, spline_weight, knots):
        _, basis = _bspline_bases(x, knots, order)
        spline = sum(along_channels(coefficients[:, i], x) * b for i, b in enumerate(basis))
        return along_channels(base_weight, x) * F.silu(x) + along_channels(spline_weight, x) * spline

    def backward(x, dy, coefficients, base_weight, spline_weight, knots):
        lower, basis = _bspline_bases(x, knots, order)
        if order == 0:
            slopes = [torch.zeros_like(x) for _ in basis]
        else:  # B'_{i,k} = k B_{i,k-1} / (t_{i+k} - t_i) - k B_{i+1,k-1} / (t_{i+k+1} - t_{i+1})
            inv = [order / (knots[i + order] - knots[i]) for i in range(len(lower))]
            slopes = [inv[i] * lower[i] - inv[i + 1] * lower[i + 1] for i in range(len(basis))]
        spline = sum(along_channels(coefficients[:, i], x) * b for i, b in enumerate(basis))
        d_spline = sum(along_channels(coefficients[:, i], x) * d for i, d in enumerate(slopes))
        s = torch.sigmoid(x)
        w_b, w_s = along_channels(base_weight, x), along_channels(spline_weight, x)
        dx = dy * (w_b * s * (1 + x * (1 - s)) + w_s * d_spline)
        g_c = torch.stack([reduce_like(dy * w_s * b, base_weight) for b in basis], dim=1)
        return (dx, g_c, reduce_like(dy * x * s, base_weight), reduce_like(dy * spline, spline_weight),
                torch.zeros_like(knots))

    return forward, backward


@register_kernel("bspline", "cpu")
def bspline_kernel(module, x):
    if module.channels is not None:
        along_channels(module.base_weight, x)  # the standard channel-mismatch error
    return apply(*bspline_math(module.spline_order), x, module.coefficients, module.base_weight,
                 module.spline_weight, module.knots)


# --- PAU: y = P(x) / Q(x); version A: Q = 1 + sum |b_k| |x|^k, B: Q = 1 + |x B(x)| ---
def _horner(x, coeffs):
    out = coeffs[-1] + torch.zeros_like(x)
    for i in range(coeffs.shape[0] - 2, -1, -1):
        out = out * x + coeffs[i]
    return out


def pau_forward(x, num, den):
    return _horner(x, num) / (1 + torch.abs(x * _horner(x, den)))


def _pau_powers(x, num, den):
    """x^0..x^max(m, n), P and P' (one table of powers serves both versions)."""
    m, n = num.shape[0] - 1, den.shape[0]
    powers = [torch.ones_like(x), x]
    for _ in range(max(m, n) - 1):
        powers.append(powers[-1] * x)
    p = sum(num[k] * powers[k] for k in range(m + 1))
    dp = sum(k * num[k] * powers[k - 1] for k in range(1, m + 1)) if m > 0 else torch.zeros_like(x)
    return powers, p, dp


def pau_backward(x, dy, num, den):
    # One table of powers x^0..x^m serves P, r = x B(x), their derivatives and all ten
    # parameter-gradient sums (a_k gets sum dy x^k / q, b_k gets sum h x^k).
    m, n = num.shape[0] - 1, den.shape[0]
    powers, p, dp = _pau_powers(x, num, den)
    r = sum(den[k - 1] * powers[k] for k in range(1, n + 1))
    dr = sum(k * den[k - 1] * powers[k - 1] for k in range(1, n + 1))
    inv_q = 1 / (1 + torch.abs(r))
    g = dy * inv_q  # dL/dP
    h = -g * p * inv_q * torch.sign(r)  # dL/dr
    dx = g * dp + h * dr
    g_num = torch.stack([(g * powers[k]).sum() for k in range(m + 1)])
    g_den = torch.stack([(h * powers[k]).sum() for k in range(1, n + 1)])
    return dx, g_num, g_den


def pau_a_forward(x, num, den):
    ax = torch.abs(x)
    return _horner(x, num) / (1 + ax * _horner(ax, torch.abs(den)))


def pau_a_backward(x, dy, num, den):
    # Q = 1 + sum |b_k| |x|^k: dQ/dx = sign(x) sum k |b_k| |x|^(k-1), dQ/db_k = sign(b_k) |x|^k;
    # sign(0) = 0, as autograd's |.|.
    m, n = num.shape[0] - 1, den.shape[0]
    powers, p, dp = _pau_powers(x, num, den)
    abs_den = torch.abs(den)
    q = 1 + sum(abs_den[k - 1] * torch.abs(powers[k]) for k in range(1, n + 1))
    dq = sum(k * abs_den[k - 1] * torch.abs(powers[k - 1]) for k in range(1, n + 1)) * torch.sign(x)
    g = dy / q  # dL/dP
    h = -g * p / q  # dL/dQ
    dx = g * dp + h * dq
    g_num = torch.stack([(g * powers[k]).sum() for k in range(m + 1)])
    g_den = torch.stack([(h * torch.abs(powers[k])).sum() for k in range(1, n + 1)]) * torch.sign(den)
    return dx, g_num, g_den


PAU_MATH = {"A": (pau_a_forward, pau_a_backward), "B": (pau_forward, pau_backward)}


def pau_kernel(module, x):
    return apply(*PAU_MATH[module.version], x, module.numerator, module.denominator)
