"""Small learnable activations: PReLU, Swish with learnable beta, ACON-C, Meta-ACON, Sqish.

Each has per-layer parameters by default and per-channel ones with ``channels=C``
(channel dimension 1, so (N, C, H, W) and (N, C, L) inputs broadcast).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from suite.activations import register_activation
from suite.activations.base import Activation, along_channels, check_channels, param_shape, positive_int
from suite.errors import SuiteError, bad_value


def _full(channels, value) -> nn.Parameter:
    return nn.Parameter(torch.full(param_shape(channels), float(value)))


class PReLU(Activation):
    """He et al. 2015: y = max(0, x) + a * min(0, x); ``weight`` = a, init 0.25."""

    kernel_name = "prelu"

    def __init__(self, channels=None, init: float = 0.25, inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        self.channels = check_channels(channels)
        self.weight = _full(self.channels, init)

    def reference_forward(self, x):
        # where(x > 0, ...): at x = 0 the gradient is a (the slope of the negative piece),
        # as torch.nn.PReLU's; clamp's subgradients would add both pieces (1 + a) or none.
        return torch.where(x > 0, x, along_channels(self.weight, x) * x)


class SwishBeta(Activation):
    """Ramachandran et al. 2017: y = x * sigmoid(beta x), ``beta`` learnable (init 1)."""

    kernel_name = "swish_beta"

    def __init__(self, channels=None, beta: float = 1.0, inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        self.channels = check_channels(channels)
        self.beta = _full(self.channels, beta)

    def reference_forward(self, x):
        return x * torch.sigmoid(along_channels(self.beta, x) * x)


def acon(x, p1, p2, beta):
    """ACON-C (Ma et al. 2021, arXiv 2009.04759): (p1-p2) x sigmoid(beta (p1-p2) x) + p2 x."""
    dp = p1 - p2
    return dp * x * torch.sigmoid(beta * dp * x) + p2 * x


class AconC(Activation):
    """ACON-C with learnable p1, p2, beta. Init p1=1, p2=0, beta=1, i.e. Swish at start
    (the official code draws p1, p2 at random; we start from a known shape so runs with
    different seeds differ only by the network's init)."""

    kernel_name = "acon_c"

    def __init__(self, channels=None, inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        self.channels = check_channels(channels)
        self.p1 = _full(self.channels, 1.0)
        self.p2 = _full(self.channels, 0.0)
        self.beta = _full(self.channels, 1.0)

    def reference_forward(self, x):
        return acon(x, along_channels(self.p1, x), along_channels(self.p2, x), along_channels(self.beta, x))


class MetaAcon(Activation):
    """Meta-ACON, as the authors' MetaAconC (nmaac/acon, acon.py): per sample and channel,
    beta = sigmoid(bn2(fc2(bn1(fc1(mean of x over its spatial dimensions))))), with fc1 a
    1x1 convolution C -> max(r, C // r), fc2 one back to C, each followed by a BatchNorm
    and no other nonlinearity. The BatchNorms normalise over the batch, so in training
    mode a batch needs more than one sample. Deviation: p1 = 1, p2 = 0 at init (the
    authors draw them from N(0, 1); see AconC)."""

    kernel_name = "meta_acon"

    def __init__(self, channels=None, reduction: int = 16, inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        if channels is None:
            raise bad_value("meta_acon channels", channels, "a positive integer (Meta-ACON is per-channel)")
        self.channels = check_channels(channels)
        positive_int("meta_acon reduction", reduction)
        width = max(reduction, channels // reduction)
        self.p1 = nn.Parameter(torch.ones(channels))
        self.p2 = nn.Parameter(torch.zeros(channels))
        self.fc1 = nn.Conv2d(channels, width, 1)
        # BatchNorm1d on the pooled [N, width] rows: BatchNorm2d's math on the authors'
        # [N, width, 1, 1] maps, and the same state-dict entries.
        self.bn1 = nn.BatchNorm1d(width)
        self.fc2 = nn.Conv2d(width, channels, 1)
        self.bn2 = nn.BatchNorm1d(channels)

    def switch(self, x):
        """beta, shaped [N, C, 1, ...] to broadcast over x."""
        if x.dim() < 2 or x.shape[1] != self.channels:
            along_channels(self.p1, x)  # raises the standard channel-mismatch error
        if self.training and x.shape[0] < 2:
            raise SuiteError(f"meta_acon in training mode needs a batch of at least 2 samples, got {x.shape[0]}: "
                             "the BatchNorms of its switch normalise over the batch (as the authors' MetaAconC); "
                             "call .eval() to use their running statistics.")
        spatial = tuple(range(2, x.dim()))
        # sum / n, not mean: the gradient of sum is a broadcast view of the pooled gradient,
        # where mean's backward writes a full input-sized tensor (measured: 1.2 ms of a 3 ms
        # step at 3.2M elements on 2 cores, and a third input size at the peak).
        pooled = x.sum(dim=spatial, keepdim=True) / math.prod(x.shape[2:]) if spatial else x[..., None]
        # in the weights' dtype: a bfloat16 input to a float32 unit (no autocast) would
        # otherwise stop the matrix products with a dtype mismatch
        pooled = pooled.reshape(x.shape[0], self.channels).to(self.fc1.weight.dtype)
        # The 1x1 convolutions act on 1x1 maps: as matrix products they cost microseconds,
        # where the convolution path spends ~0.2 ms per call and per backward (measured).
        hidden = self.bn1(F.linear(pooled, self.fc1.weight.flatten(1), self.fc1.bias))
        switch = self.bn2(F.linear(hidden, self.fc2.weight.flatten(1), self.fc2.bias))
        return torch.sigmoid(switch).reshape(x.shape[0], self.channels, *([1] * len(spatial)))

    def reference_forward(self, x):
        return acon(x, along_channels(self.p1, x), along_channels(self.p2, x), self.switch(x))


class Sqish(Activation):
    """Sqish (Biswas et al., arXiv 2310.09828):
    y = alpha x + (1 - alpha) x / (1 + beta exp(-2 gamma (1 - alpha) x)),
    learnable alpha (init 0.5) and gamma (init 1), beta fixed at 1.

    Unverified: the paper's equations were not readable where this was written; the form
    is that of a public re-implementation (another one puts a square root over the
    denominator). The paper is arXiv 2310.10126 (Biswas, Karri, Bagci; an earlier note
    said 2310.09828). See baselines/README.md, "Formulas taken from secondary sources"."""

    kernel_name = "sqish"

    def __init__(self, channels=None, alpha: float = 0.5, gamma: float = 1.0, beta: float = 1.0, inplace=False, impl="auto"):
        super().__init__(inplace, impl)
        self.channels = check_channels(channels)
        if not float(beta) > 0:
            raise bad_value("sqish beta", beta, "a positive number")
        self.alpha = _full(self.channels, alpha)
        self.gamma = _full(self.channels, gamma)
        self.beta = float(beta)

    def reference_forward(self, x):
        a, g = along_channels(self.alpha, x), along_channels(self.gamma, x)
        # 1/(1 + beta e^{-z}) = sigmoid(z - log beta): stable for large |z|.
        z = 2 * g * (1 - a) * x - torch.log(torch.tensor(self.beta, dtype=x.dtype))
        return a * x + (1 - a) * x * torch.sigmoid(z)


_PAPER_ACON = "Ma et al. 2021 (Activate or Not), arXiv 2009.04759"
register_activation("prelu", family="rectifier", paper="He et al. 2015, arXiv 1502.01852", learnable=True, per_channel=True)(PReLU)
register_activation("swish_beta", family="swish", paper="Ramachandran et al. 2017, arXiv 1710.05941", learnable=True, per_channel=True, aliases=("swish_learnable",))(SwishBeta)
register_activation("acon_c", family="acon", paper=_PAPER_ACON, learnable=True, per_channel=True, aliases=("aconc",))(AconC)
register_activation("meta_acon", family="acon", paper=_PAPER_ACON, learnable=True, per_channel=True, needs_channels=True, aliases=("metaacon",))(MetaAcon)
register_activation("sqish", family="swish", paper="Biswas et al. 2023, arXiv 2310.10126", learnable=True, per_channel=True)(Sqish)
