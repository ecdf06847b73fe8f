"""SmeLU against its formula, continuity at +-beta, and through the suite's factory."""
import pytest
import torch

import smelu_act  # noqa: F401 - registers "smelu"
from suite.activations import create


def test_formula_on_each_piece():
    act = create("smelu", beta=2.0)
    x = torch.tensor([-3.0, -2.0, 0.0, 1.0, 2.0, 5.0])
    expected = torch.tensor([0.0, 0.0, 0.5, 9 / 8, 2.0, 5.0])  # (x+2)^2/8 inside
    torch.testing.assert_close(act(x), expected)


def test_gradient_is_continuous_at_the_joins():
    act = create("smelu", beta=1.0)
    x = torch.tensor([-1.0, 1.0], dtype=torch.float64, requires_grad=True)
    act(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 1.0], dtype=torch.float64))
    torch.autograd.gradcheck(act, torch.randn(16, dtype=torch.float64, requires_grad=True))


def test_rejects_a_non_positive_beta():
    with pytest.raises(ValueError, match="beta"):
        create("smelu", beta=0)
