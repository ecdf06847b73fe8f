"""Fixed (parameter-free) activations: ReLU and its classic successors.

Each wraps torch's fused functional op, so they cost what torch's own modules cost; the
tests check them against formulas written from the papers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from suite.activations import register_activation
from suite.activations.base import Activation
from suite.errors import bad_value


class ReLU(Activation):
    def reference_forward(self, x):
        return F.relu(x, inplace=self.inplace)


class LeakyReLU(Activation):
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False, impl: str = "auto"):
        super().__init__(inplace, impl)
        if not 0 <= float(negative_slope) < 1:
            raise bad_value("leaky_relu negative_slope", negative_slope, "a number in [0, 1)")
        self.negative_slope = float(negative_slope)

    def reference_forward(self, x):
        return F.leaky_relu(x, self.negative_slope, inplace=self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(Activation):
    def __init__(self, alpha: float = 1.0, inplace: bool = False, impl: str = "auto"):
        super().__init__(inplace, impl)
        if not float(alpha) > 0:
            raise bad_value("elu alpha", alpha, "a positive number")
        self.alpha = float(alpha)

    def reference_forward(self, x):
        return F.elu(x, self.alpha, inplace=self.inplace)


class SELU(Activation):
    def reference_forward(self, x):
        return F.selu(x, inplace=self.inplace)


class GELU(Activation):
    approximate = "none"

    def reference_forward(self, x):
        return F.gelu(x, approximate=self.approximate)


class GELUTanh(GELU):
    approximate = "tanh"


class SiLU(Activation):
    def reference_forward(self, x):
        return F.silu(x, inplace=self.inplace)


class Softplus(Activation):
    """log(1 + e^x) (Dugas et al. 2001); torch's op returns x itself above x = 20, where the
    two differ by less than 2.1e-9 (e^-20)."""

    def reference_forward(self, x):
        return F.softplus(x)


class Mish(Activation):
    def reference_forward(self, x):
        return F.mish(x, inplace=self.inplace)


class HardSwish(Activation):
    def reference_forward(self, x):
        return F.hardswish(x, inplace=self.inplace)


class ReLU2(Activation):
    """Squared ReLU (So et al., Primer, arXiv 2109.08668): relu(x)^2."""

    def reference_forward(self, x):
        return torch.square(F.relu(x))


_CLASSIC = [
    ("relu", ReLU, (), "Nair & Hinton 2010"),
    ("leaky_relu", LeakyReLU, ("lrelu",), "Maas et al. 2013"),
    ("elu", ELU, (), "Clevert et al. 2015, arXiv 1511.07289"),
    ("selu", SELU, (), "Klambauer et al. 2017, arXiv 1706.02515"),
    ("gelu", GELU, (), "Hendrycks & Gimpel 2016, arXiv 1606.08415"),
    ("gelu_tanh", GELUTanh, ("gelu_approx",), "Hendrycks & Gimpel 2016 (tanh approximation)"),
    ("silu", SiLU, ("swish",), "Ramachandran et al. 2017, arXiv 1710.05941; Elfwing et al. 2017"),
    ("softplus", Softplus, (), "Dugas et al. 2001; a row of the Swish paper's tables (arXiv 1710.05941)"),
    ("mish", Mish, (), "Misra 2019, arXiv 1908.08681"),
    ("hardswish", HardSwish, ("hard_swish",), "Howard et al. 2019 (MobileNetV3), arXiv 1905.02244"),
    ("relu2", ReLU2, ("squared_relu",), "So et al. 2021 (Primer), arXiv 2109.08668"),
]

for _name, _cls, _aliases, _paper in _CLASSIC:
    register_activation(_name, family="classic", paper=_paper, learnable=False, aliases=_aliases)(_cls)
