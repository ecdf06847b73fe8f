"""Piecewise Linear Unit (Zhou, Zhu, Zhong, ICCV 2021, arXiv 2104.03693).

N regions of equal width d = (B_R - B_L) / N on [B_L, B_R]; learnable heights Y_0..Y_N at
the region ends and outer slopes K_L, K_R:

    y = (x - B_L) K_L + Y_0                       for x <  B_L
    y = (x - B_R) K_R + Y_N                       for x >= B_R
    y = Y_i + t (Y_{i+1} - Y_i),  i = floor((x - B_L)/d),  t = (x - B_L)/d - i   inside

Training follows the paper's two phases (what the paper fixes and what the suite
chose: docs/readme/pwlu-ortho.md). Phase I (``begin_statistics``): the unit behaves as
its initial activation (ReLU or Swish), none of its parameters is used, and it collects
the running mean and running **std** of its input (momentum 0.9, as the paper).
``realign`` then puts the bounds at mean -+ 3 std and resets the heights and slopes to
the initial shape on that new grid, so the function is unchanged where the data lives;
phase II learns **every** parameter, the bounds B_L, B_R included, as the paper does
(``learn_bounds=False``, registered as ``pwlu_fixed``, keeps them fixed instead). Phase I
lasts ``statistics`` of the training run: a fraction of its steps (default 0.05, the
paper's 5 of 100 ImageNet epochs) or ``"<k>ep"`` epochs; 0 turns it off and the unit
simply learns from its default bounds. The training loop asks ``statistics_steps``.
Under DDP ``suite.activations.phases.realign`` pools the ranks' statistics first, so every
rank realigns to the same bounds. Phase, statistics and bounds travel with ``state_dict``.

Attributes (read by the fused kernels by name): ``heights`` [1|C, N+1],
``left_slope``/``right_slope`` [1|C], ``left_bound``/``right_bound`` [1|C] (parameters,
or buffers when fixed); buffers ``running_mean``/``running_std`` [1|C], ``phase`` (0 =
learning, 1 = collecting statistics), ``statistics_batches``. The running statistics
follow running = momentum * running + (1 - momentum) * batch (the first batch sets them).
Nothing keeps learned bounds from crossing (B_R <= B_L gives a negative region width),
as in the paper; checking it every forward would cost a device sync per layer on GPUs.

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
# Phase I as a fraction of training: the paper's 5 of its 100 ImageNet epochs.
PAPER_STATISTICS = 0.05


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_statistics(value) -> tuple[str, float]:
    """Phase I's length: ("fraction", f) of the run's steps or ("epochs", k)."""
    accepted = 'a fraction of training in [0, 1) (0: no phase I) or epochs as "<k>ep", e.g. "5ep"'
    if _is_number(value) and 0 <= float(value) < 1:
        return "fraction", float(value)
    if isinstance(value, str) and value.strip().endswith("ep"):
        try:
            epochs = float(value.strip()[:-2])
        except ValueError:
            epochs = -1.0
        if epochs >= 0:
            return "epochs", epochs
    raise bad_value("pwlu statistics", value, accepted)


class PWLU(Activation):
    kernel_name = "pwlu"

    def __init__(self, regions: int = 16, bounds=(-3.0, 3.0), init: str = "relu", channels=None,
                 momentum: float = 0.9, sigmas: float = 3.0, learn_bounds: bool = True,
                 statistics=PAPER_STATISTICS, inplace=False, impl="auto"):
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
        if not isinstance(learn_bounds, bool):
            raise bad_value("pwlu learn_bounds", learn_bounds, "true (the paper) or false (fixed after realign)")
        self.statistics = parse_statistics(statistics)
        self.channels = check_channels(channels)
        self.init, self.momentum, self.sigmas = init, float(momentum), float(sigmas)
        self.learn_bounds = learn_bounds
        shape = param_shape(self.channels)
        for name, value in (("left_bound", left), ("right_bound", right)):
            if learn_bounds:
                setattr(self, name, nn.Parameter(torch.full(shape, value)))
            else:
                self.register_buffer(name, torch.full(shape, value))
        self.register_buffer("running_mean", torch.zeros(shape))
        self.register_buffer("running_std", torch.ones(shape))
        self.register_buffer("phase", torch.tensor(LEARNING))
        # Batches seen in the statistics phase: the first one sets the running
        # statistics outright, so a short phase is not biased towards (0, 1).
        self.register_buffer("statistics_batches", torch.tensor(0))
        self._collecting = False
        self.heights = nn.Parameter(torch.zeros(param_shape(self.channels, self.regions + 1)))
        self.left_slope = nn.Parameter(torch.zeros(shape))
        self.right_slope = nn.Parameter(torch.ones(shape))
        self.reset_shape()

    # Buffers that each process of a DDP run keeps for itself during phase I (pooled by
    # ``phases.realign``): DDP would otherwise overwrite them with rank 0's every forward.
    statistics_buffers = ("running_mean", "running_std", "statistics_batches")

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

    def statistics_steps(self, total_steps: int, steps_per_epoch: int) -> int:
        """Phase I's length in optimizer steps for a run of ``total_steps`` (at least one
        step when it is on, so a shrunk trial run still realigns)."""
        kind, amount = self.statistics
        if amount == 0:
            return 0
        steps = amount * (total_steps if kind == "fraction" else steps_per_epoch)
        return max(1, min(total_steps, round(steps)))

    @property
    def collecting(self) -> bool:
        # A Python mirror of the ``phase`` buffer: reading the buffer in forward would
        # force a device sync per layer on GPUs.
        return self._collecting

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        old = prefix + "running_var"  # checkpoints from before the running std (the paper's)
        if old in state_dict and prefix + "running_std" not in state_dict:
            state_dict[prefix + "running_std"] = state_dict.pop(old).clamp_min(0).sqrt()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._collecting = bool(self.phase.item() == COLLECTING)

    def begin_statistics(self) -> None:
        self._collecting = True
        self.phase.fill_(COLLECTING)
        self.running_mean.zero_()
        self.running_std.fill_(1.0)
        self.statistics_batches.zero_()

    @torch.no_grad()
    def realign(self, all_reduce=None) -> None:
        """End phase I: bounds = mean -+ sigmas * std, shape reset on the new grid.

        ``all_reduce`` (a sum over processes, in place; ``phases.realign`` passes it under
        DDP): every rank first takes the statistics of all ranks' data pooled, the mean of
        their means and the std of the pooled mixture, so all realign alike."""
        if all_reduce is not None:
            self._pool_statistics(all_reduce)
        self.left_bound.copy_(self.running_mean - self.sigmas * self.running_std)
        self.right_bound.copy_(self.running_mean + self.sigmas * self.running_std)
        self.reset_shape()
        self.phase.fill_(LEARNING)
        self._collecting = False

    def _pool_statistics(self, all_reduce) -> None:
        mean, std = self.running_mean.double(), self.running_std.double()
        moments = torch.stack([mean, std**2 + mean**2, torch.ones_like(mean)])  # E x, E x^2, a count
        all_reduce(moments)
        mean, second = moments[0] / moments[2], moments[1] / moments[2]
        self.running_mean.copy_(mean)
        self.running_std.copy_((second - mean**2).clamp_min(0).sqrt())

    @torch.no_grad()
    def _collect(self, x: torch.Tensor) -> None:
        if self.channels is None:
            mean, std = x.mean(), x.std(unbiased=False)
        else:
            dims = [d for d in range(x.dim()) if d != 1]
            mean, std = x.mean(dims), x.std(dims, unbiased=False)
        m = self.momentum if int(self.statistics_batches) > 0 else 0.0
        self.statistics_batches += 1
        self.running_mean.mul_(m).add_((1 - m) * mean.to(self.running_mean.dtype))
        self.running_std.mul_(m).add_((1 - m) * std.to(self.running_std.dtype))

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
        return (f"regions={self.regions}, init={self.init!r}, channels={self.channels}, "
                f"learn_bounds={self.learn_bounds}")


register_activation(
    "pwlu", family="pwlu", paper="Zhou et al. 2021 (PWLU), ICCV, arXiv 2104.03693",
    learnable=True, per_channel=True, aliases=("piecewise_linear",),
)(PWLU)


class PWLUFixed(PWLU):
    """PWLU with its bounds fixed after realignment (the suite's earlier PWLU): a name of
    its own, so its leaderboard row is never mistaken for the paper's unit."""

    def __init__(self, regions: int = 16, bounds=(-3.0, 3.0), init: str = "relu", channels=None,
                 momentum: float = 0.9, sigmas: float = 3.0, statistics=PAPER_STATISTICS, inplace=False,
                 impl="auto"):
        super().__init__(regions, bounds, init, channels, momentum, sigmas, learn_bounds=False,
                         statistics=statistics, inplace=inplace, impl=impl)


register_activation(
    "pwlu_fixed", family="pwlu",
    paper="Zhou et al. 2021 (PWLU), ICCV, arXiv 2104.03693; bounds fixed after realign (the paper learns them)",
    learnable=True, per_channel=True,
)(PWLUFixed)
