"""Piecewise Linear Unit (Zhou, Zhu, Zhong, ICCV 2021, arXiv 2104.03693).

N regions of equal width d = (B_R - B_L) / N on [B_L, B_R]; learnable heights Y_0..Y_N at
the region ends and outer slopes K_L, K_R:

    y = (x - B_L) K_L + Y_0                       for x <  B_L
    y = (x - B_R) K_R + Y_N                       for x >= B_R
    y = Y_i + t (Y_{i+1} - Y_i),  i = floor((x - B_L)/d),  t = (x - B_L)/d - i   inside

Training follows the paper's two phases. Phase I (``begin_statistics``): the unit
behaves as its initial activation (ReLU or Swish) while it collects the running mean and
variance of its input. ``realign`` then puts the bounds at mean -+ 3 std and resets the
heights and slopes to the initial shape on that new grid, so the function is unchanged
where the data lives; phase II learns heights and slopes. Without a statistics phase the
unit simply learns from its default bounds. Phase, statistics and bounds are buffers:
they travel with ``state_dict``. The bounds are kept fixed after realignment (the paper
learns heights and outer slopes; fixed bounds also keep the fused kernel's index math
free of parameter gradients).

Attributes (read by the fused kernels by name): ``heights`` [1|C, N+1],
``left_slope``/``right_slope`` [1|C]; buffers ``left_bound``/``right_bound``,
``running_mean``/``running_var`` [1|C], ``phase`` (0 = learning, 1 = collecting
statistics), ``statistics_batches``. The running statistics follow
running = momentum * running + (1 - momentum) * batch (the first batch sets them).

Per-channel (``channels=C``): the channel dimension is dimension 1 (NCHW images,
(N, C) features); for (N, L, C) sequences use the per-layer variant or move the channel
dimension first. Inference fold: ``folded()`` gives per-region slopes and intercepts.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from suite.activations import register_activation
from suite.activations.base import Activation, along_channels, check_channels, param_shape, positive_int
from suite.errors import bad_value

LEARNING, COLLECTING = 0, 1
INIT_SHAPES = {"relu": F.relu, "swish": F.silu, "silu": F.silu}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class PWLU(Activation):
    kernel_name = "pwlu"

    def __init__(self, regions: int = 16, bounds=(-3.0, 3.0), init: str = "relu", channels=None,
                 momentum: float = 0.9, sigmas: float = 3.0, inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        self.regions = positive_int("pwlu regions", regions)
        try:
            left, right = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise bad_value("pwlu bounds", bounds, "a pair (left, right) of numbers with left < right") from None
        if not left < right:
            raise bad_value("pwlu bounds", tuple(bounds), "a pair (left, right) with left < right")
        if init not in INIT_SHAPES:
            raise bad_value("pwlu init", init, f"one of {', '.join(INIT_SHAPES)}")
        if not _is_number(momentum) or not 0 < float(momentum) < 1:
            raise bad_value("pwlu momentum", momentum, "a number in (0, 1)")
        if not _is_number(sigmas) or not float(sigmas) > 0:
            raise bad_value("pwlu sigmas", sigmas, "a positive number")
        self.channels = check_channels(channels)
        self.init, self.momentum, self.sigmas = init, float(momentum), float(sigmas)
        shape = param_shape(self.channels)
        self.register_buffer("left_bound", torch.full(shape, left))
        self.register_buffer("right_bound", torch.full(shape, right))
        self.register_buffer("running_mean", torch.zeros(shape))
        self.register_buffer("running_var", torch.ones(shape))
        self.register_buffer("phase", torch.tensor(LEARNING))
        # Batches seen in the statistics phase: the first one sets the running
        # statistics outright, so a short phase is not biased towards (0, 1).
        self.register_buffer("statistics_batches", torch.tensor(0))
        self._collecting = False
        self.heights = nn.Parameter(torch.zeros(param_shape(self.channels, self.regions + 1)))
        self.left_slope = nn.Parameter(torch.zeros(shape))
        self.right_slope = nn.Parameter(torch.ones(shape))
        self.reset_shape()

    # --- the initial shape and the phases -------------------------------------------
    def grid(self) -> torch.Tensor:
        """Region ends, shape [1|C, N+1]."""
        steps = torch.linspace(0, 1, self.regions + 1, device=self.left_bound.device)
        return self.left_bound[:, None] + (self.right_bound - self.left_bound)[:, None] * steps

    @torch.no_grad()
    def reset_shape(self) -> None:
        """Heights = the initial activation on the grid; outer slopes = its asymptotes
        (0 left, 1 right for both ReLU and Swish)."""
        self.heights.copy_(INIT_SHAPES[self.init](self.grid()))
        self.left_slope.fill_(0.0)
        self.right_slope.fill_(1.0)

    @property
    def collecting(self) -> bool:
        # A Python mirror of the ``phase`` buffer: reading the buffer in forward would
        # force a device sync per layer on GPUs.
        return self._collecting

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._collecting = bool(self.phase.item() == COLLECTING)

    def begin_statistics(self) -> None:
        self._collecting = True
        self.phase.fill_(COLLECTING)
        self.running_mean.zero_()
        self.running_var.fill_(1.0)
        self.statistics_batches.zero_()

    @torch.no_grad()
    def realign(self) -> None:
        std = self.running_var.clamp_min(1e-12).sqrt()
        self.left_bound.copy_(self.running_mean - self.sigmas * std)
        self.right_bound.copy_(self.running_mean + self.sigmas * std)
        self.reset_shape()
        self.phase.fill_(LEARNING)
        self._collecting = False

    @torch.no_grad()
    def _collect(self, x: torch.Tensor) -> None:
        if self.channels is None:
            mean, var = x.mean(), x.var(unbiased=False)
        else:
            dims = [d for d in range(x.dim()) if d != 1]
            mean, var = x.mean(dims), x.var(dims, unbiased=False)
        m = self.momentum if int(self.statistics_batches) > 0 else 0.0
        self.statistics_batches += 1
        self.running_mean.mul_(m).add_((1 - m) * mean.to(self.running_mean.dtype))
        self.running_var.mul_(m).add_((1 - m) * var.to(self.running_var.dtype))

    # --- forward ----------------------------------------------------------------------
    def forward(self, x):
        if self._collecting:
            if self.training:
                self._collect(x)
            return INIT_SHAPES[self.init](x)
        return super().forward(x)

    def reference_forward(self, x):
        left, right = along_channels(self.left_bound, x), along_channels(self.right_bound, x)
        width = (right - left) / self.regions
        u = (x - left) / width
        # NaN x (a diverging run) must give NaN, not a garbage index: nan_to_num.
        index = u.floor().clamp(0, self.regions - 1).nan_to_num(0.0)
        t = u - index
        if self.channels is None:
            heights = self.heights[0]
            y_lo = heights[index.long()]
            y_hi = heights[index.long() + 1]
        else:
            # gather per channel: move channels last, index [.., C] into [C, N+1]
            idx = index.long().movedim(1, -1)
            rows = torch.arange(self.channels, device=x.device)
            y_lo = self.heights[rows, idx].movedim(-1, 1)
            y_hi = self.heights[rows, idx + 1].movedim(-1, 1)
        inside = y_lo + t * (y_hi - y_lo)
        k_left, k_right = along_channels(self.left_slope, x), along_channels(self.right_slope, x)
        y0 = along_channels(self.heights[:, 0], x)
        yn = along_channels(self.heights[:, -1], x)
        out = torch.where(x < left, (x - left) * k_left + y0, inside)
        return torch.where(x >= right, (x - right) * k_right + yn, out)

    @torch.no_grad()
    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference fold: per-region slope and intercept ([1|C, N]), so that inside
        region i, y = slope_i * x + intercept_i: one lookup and one FMA per element."""
        grid = self.grid()
        slope = (self.heights[:, 1:] - self.heights[:, :-1]) / (grid[:, 1:] - grid[:, :-1])
        intercept = self.heights[:, :-1] - slope * grid[:, :-1]
        return slope, intercept

    def extra_repr(self):
        return f"regions={self.regions}, init={self.init!r}, channels={self.channels}"


register_activation(
    "pwlu", family="pwlu", paper="Zhou et al. 2021 (PWLU), ICCV, arXiv 2104.03693",
    learnable=True, per_channel=True, aliases=("piecewise_linear",),
)(PWLU)
