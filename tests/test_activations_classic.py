"""Classic activations against formulas written from their papers, and against torch/timm."""
import math

import pytest
import torch

import suite.activations as acts

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _phi(x):  # standard normal CDF
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def _softplus(x):  # log(1 + e^x) written stably: max(x, 0) + log1p(e^-|x|)
    return torch.clamp(x, min=0) + torch.log1p(torch.exp(-x.abs()))


FORMULAS = {
    "relu": lambda x: torch.where(x > 0, x, torch.zeros_like(x)),
    "leaky_relu": lambda x: torch.where(x >= 0, x, 0.01 * x),
    "elu": lambda x: torch.where(x > 0, x, torch.exp(torch.clamp(x, max=0)) - 1),
    "selu": lambda x: SELU_SCALE * torch.where(x > 0, x, SELU_ALPHA * (torch.exp(torch.clamp(x, max=0)) - 1)),
    "gelu": lambda x: x * _phi(x),
    "gelu_tanh": lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
    "silu": lambda x: x / (1 + torch.exp(-x)),
    "mish": lambda x: x * torch.tanh(_softplus(x)),
    "softplus": _softplus,
    "hardswish": lambda x: x * torch.clamp(x + 3, 0, 6) / 6,
    "relu2": lambda x: torch.where(x > 0, x * x, torch.zeros_like(x)),
}


def _inputs():
    torch.manual_seed(0)
    edges = torch.tensor([0.0, 1e-6, -1e-6, 1.0, -1.0, 3.0, -3.0, 30.0, -30.0, 1e4, -1e4], dtype=torch.float64)
    return torch.cat([torch.randn(1000, dtype=torch.float64) * 4, edges])


def test_every_classic_activation_has_a_formula():
    classic = {n for n in acts.names() if acts.ACTIVATIONS.get(n).info["family"] == "classic"}
    assert classic == set(FORMULAS)


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_matches_paper_formula(name):
    x = _inputs()
    y = acts.create(name)(x)
    expected = FORMULAS[name](x)
    if name == "silu":  # e^{-x} overflows to inf at x = -1e4; the limit is 0
        expected = torch.nan_to_num(expected, nan=0.0)
    # softplus: torch returns x above 20, off by at most e^-20 there
    tol = 3e-9 if name == "softplus" else 1e-12
    torch.testing.assert_close(y, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ["leaky_relu", "elu"])
def test_parameters_change_the_formula(name):
    x = _inputs()
    if name == "leaky_relu":
        y, expected = acts.create(name, negative_slope=0.2)(x), torch.where(x >= 0, x, 0.2 * x)
    else:
        y, expected = acts.create(name, alpha=0.5)(x), torch.where(x > 0, x, 0.5 * (torch.exp(torch.clamp(x, max=0)) - 1))
    torch.testing.assert_close(y, expected)


@pytest.mark.parametrize("name,timm_name", [
    ("relu", "relu"), ("leaky_relu", "leaky_relu"), ("elu", "elu"), ("selu", "selu"), ("gelu", "gelu"),
    ("gelu_tanh", "gelu_tanh"), ("silu", "silu"), ("mish", "mish"), ("hardswish", "hard_swish"),
])
def test_matches_timm(name, timm_name):
    from timm.layers import get_act_layer

    x = _inputs().float()
    torch.testing.assert_close(acts.create(name)(x), get_act_layer(timm_name)()(x))


def test_inplace_modifies_input_and_agrees():
    x = torch.randn(100)
    expected = acts.create("relu")(x)
    y = acts.create("relu", inplace=True)(x)
    assert y.data_ptr() == x.data_ptr()
    torch.testing.assert_close(y, expected)
