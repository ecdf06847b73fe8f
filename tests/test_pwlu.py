"""PWLU (arXiv 2104.03693): formula, gradients, phases, fold, state_dict, validation."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from suite.activations import create, phases
from suite.activations.pwlu import PWLU
from suite.errors import SuiteError


def numpy_pwlu(x, heights, left, right, k_left, k_right):
    """Independent oracle: numpy.interp inside [left, right], the outer lines outside."""
    x = np.asarray(x, dtype=np.float64)
    grid = np.linspace(left, right, len(heights))
    y = np.interp(x, grid, heights)
    y = np.where(x < left, (x - left) * k_left + heights[0], y)
    return np.where(x >= right, (x - right) * k_right + heights[-1], y)


def randomised(module: PWLU, seed: int = 0) -> PWLU:
    """Heights and slopes at random; the (learnable) bounds stay where they are, ordered."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if not name.endswith("_bound"):
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def test_matches_numpy_interp_at_random_and_edge_points():
    m = randomised(PWLU(regions=16, bounds=(-2.0, 4.0), impl="reference").double())
    grid = np.linspace(-2.0, 4.0, 17)
    edges = np.concatenate([grid, [0.0, -1e4, 1e4, -2.0 - 1e-9, 4.0 + 1e-9]])
    x = np.concatenate([np.random.default_rng(1).uniform(-8, 8, 2000), edges])
    y = m(torch.from_numpy(x)).detach().numpy()
    h = m.heights[0].detach().numpy()
    want = numpy_pwlu(x, h, -2.0, 4.0, m.left_slope.item(), m.right_slope.item())
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("channels", [None, 3])
def test_non_finite_inputs_give_the_outer_lines_and_nan(channels):
    """A diverging run feeds NaN and inf: the reference must give NaN and the outer lines'
    limits (a NaN once became a garbage gather index and an IndexError)."""
    m = randomised(PWLU(regions=8, channels=channels, impl="reference").double(), seed=3)
    x = torch.tensor([float("nan"), float("-inf"), float("inf"), 0.5], dtype=torch.float64).repeat(2, channels or 1, 1)
    y = m(x).detach()
    assert torch.isnan(y[..., 0]).all()
    k_left, k_right = m.left_slope.detach().reshape(-1), m.right_slope.detach().reshape(-1)
    torch.testing.assert_close(y[..., 1], (-torch.sign(k_left) * float("inf")).expand_as(y[..., 1]))
    torch.testing.assert_close(y[..., 2], (torch.sign(k_right) * float("inf")).expand_as(y[..., 2]))
    assert torch.isfinite(y[..., 3]).all()


def test_per_channel_matches_numpy_per_channel():
    m = randomised(PWLU(regions=5, channels=3, impl="reference").double(), seed=2)
    with torch.no_grad():
        m.left_bound.copy_(torch.tensor([-3.0, -1.0, 0.0], dtype=torch.float64))
        m.right_bound.copy_(torch.tensor([3.0, 2.0, 0.5], dtype=torch.float64))
    x = torch.randn(4, 3, 5, 6, dtype=torch.float64) * 3
    y = m(x)
    for c in range(3):
        want = numpy_pwlu(x[:, c].numpy(), m.heights[c].detach().numpy(), m.left_bound[c].item(),
                          m.right_bound[c].item(), m.left_slope[c].item(), m.right_slope[c].item())
        np.testing.assert_allclose(y[:, c].detach().numpy(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("channels", [None, 3])
def test_gradcheck_input_and_parameters(channels):
    m = randomised(PWLU(regions=4, bounds=(-1.0, 1.0), channels=channels, impl="reference").double())
    # points away from the kinks at -1, -0.5, 0, 0.5, 1, both outer pieces included
    x = torch.tensor([-2.3, -0.8, -0.3, 0.1, 0.37, 0.8, 1.6, 2.9, -1.2], dtype=torch.float64)
    x = x.repeat(2, 3, 1) if channels else x
    x.requires_grad_(True)
    params = (m.heights, m.left_slope, m.right_slope, m.left_bound, m.right_bound)

    def f(x, h, kl, kr, bl, br):
        return torch.func.functional_call(m, {"heights": h, "left_slope": kl, "right_slope": kr,
                                              "left_bound": bl, "right_bound": br}, (x,))

    assert torch.autograd.gradcheck(f, (x, *[p.detach().clone().requires_grad_(True) for p in params]))


@pytest.mark.parametrize("init,fn", [("relu", F.relu), ("swish", F.silu)])
def test_initial_shape_on_grid(init, fn):
    m = PWLU(init=init, impl="reference").double()
    grid = torch.linspace(-3, 3, 17, dtype=torch.float64)
    torch.testing.assert_close(m(grid), fn(grid))
    if init == "relu":  # relu's kinks are at grid points, so it is exact everywhere
        x = torch.linspace(-10, 10, 1001, dtype=torch.float64)
        torch.testing.assert_close(m(x), F.relu(x))


def test_statistics_phase_then_realign_per_layer():
    torch.manual_seed(0)
    m = PWLU(init="swish", momentum=0.5, impl="reference").double()
    assert phases.begin_statistics(torch.nn.Sequential(m)) == 1
    assert int(m.phase) == 1
    with torch.no_grad():
        x = torch.randn(5000, dtype=torch.float64) * 0.5 + 1.5
        torch.testing.assert_close(m(x), F.silu(x))  # phase I acts as the initial shape
        for _ in range(10):
            m(torch.randn(20000, dtype=torch.float64) * 0.5 + 1.5)
    assert phases.realign(torch.nn.Sequential(m)) == 1
    assert int(m.phase) == 0
    # 20000 values a batch: the standard error of mu +- 3 sigma is about
    # 0.5 * sqrt(1 + 9/2) / sqrt(20000) = 0.008 per batch, so 0.05 is over 6 standard errors.
    assert abs(m.left_bound.item() - 0.0) < 0.05 and abs(m.right_bound.item() - 3.0) < 0.05
    grid = m.grid()[0]
    torch.testing.assert_close(m(grid), F.silu(grid))


def test_statistics_in_eval_mode_are_not_updated():
    m = PWLU().eval()
    m.begin_statistics()
    m(torch.randn(100) + 5)
    assert int(m.statistics_batches) == 0 and m.running_mean.item() == 0.0


def test_realign_per_channel_uses_each_channel_statistics():
    torch.manual_seed(0)
    m = PWLU(channels=2, impl="reference").double()
    m.begin_statistics()
    mu, sigma = torch.tensor([1.5, -4.0]), torch.tensor([0.5, 2.0])
    with torch.no_grad():
        # 10 batches of 16384 values per channel: the standard error of mu + 3 sigma is
        # about sigma * sqrt(1 + 9/2) / sqrt(16384) = 0.04 even for a single batch at
        # sigma = 2, so atol = 0.1 fails only for a wrong estimator, not for sampling noise.
        for _ in range(10):
            x = torch.randn(256, 2, 8, 8, dtype=torch.float64) * sigma[None, :, None, None] + mu[None, :, None, None]
            m(x)
    m.realign()
    torch.testing.assert_close(m.left_bound.float(), mu - 3 * sigma, atol=0.1, rtol=0)
    torch.testing.assert_close(m.right_bound.float(), mu + 3 * sigma, atol=0.1, rtol=0)
    grid = m.grid()  # [2, 17]
    y = m(grid.T.reshape(17, 2))  # channel dim 1
    torch.testing.assert_close(y, F.relu(grid.T))


def test_fold_reproduces_the_function_inside_the_bounds():
    m = randomised(PWLU(regions=8, channels=2, bounds=(-1.0, 3.0), impl="reference").double(), seed=3)
    slope, intercept = m.folded()
    assert slope.shape == intercept.shape == (2, 8)
    x = torch.rand(500, 2, dtype=torch.float64) * 4 - 1
    idx = ((x + 1) / 0.5).floor().clamp(0, 7).long()
    rows = torch.arange(2)
    folded = slope[rows, idx] * x + intercept[rows, idx]
    torch.testing.assert_close(folded, m(x))


def test_state_dict_round_trip_keeps_realignment_state():
    m = PWLU(channels=3, impl="reference")
    m.begin_statistics()
    m(torch.randn(32, 3, 4) * 2 + 1)
    buffer = io.BytesIO()
    torch.save(m.state_dict(), buffer)
    fresh = PWLU(channels=3, impl="reference")
    fresh.load_state_dict(torch.load(io.BytesIO(buffer.getvalue())))
    assert fresh.collecting and int(fresh.phase) == 1
    torch.testing.assert_close(fresh.running_mean, m.running_mean)
    x = torch.randn(8, 3, 4) * 3
    with torch.no_grad():
        torch.testing.assert_close(fresh.eval()(x), m.eval()(x))
    m.realign(), fresh.realign()
    torch.save(m.state_dict(), buffer := io.BytesIO())
    fresh2 = PWLU(channels=3, impl="reference")
    fresh2.load_state_dict(torch.load(io.BytesIO(buffer.getvalue())))
    assert not fresh2.collecting
    torch.testing.assert_close(fresh2.left_bound, m.left_bound)
    torch.testing.assert_close(fresh2(x), m(x))


@pytest.mark.parametrize("params,name", [
    ({"regions": -2}, "regions"), ({"regions": 2.5}, "regions"), ({"bounds": (1, -1)}, "bounds"),
    ({"bounds": 3}, "bounds"), ({"momentum": 1.0}, "momentum"), ({"momentum": "fast"}, "momentum"), ({"sigmas": 0}, "sigmas"), ({"init": "tanh"}, "init"),
    ({"channels": 0}, "channels"), ({"statistics": 1.5}, "statistics"), ({"statistics": "five"}, "statistics"),
    ({"statistics": "-2ep"}, "statistics"), ({"learn_bounds": "yes"}, "learn_bounds"),
])
def test_bad_parameters_name_themselves(params, name):
    with pytest.raises(SuiteError, match=name):
        create("pwlu", **params)


def test_channel_mismatch_is_a_suite_error():
    with pytest.raises(SuiteError, match="channels=4"):
        PWLU(channels=3, impl="reference")(torch.randn(2, 4, 5))


def test_phases_touch_only_modules_with_phases():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), PWLU(), torch.nn.ReLU(), PWLU(channels=3),
                                create("hermite", degree=3))
    assert phases.begin_statistics(model) == 2
    assert all(m.collecting for m in model if isinstance(m, PWLU))
    assert phases.realign(model) == 2
    assert not any(m.collecting for m in model if isinstance(m, PWLU))
    assert phases.begin_statistics(torch.nn.Sequential(torch.nn.ReLU())) == 0


@pytest.mark.parametrize("channels", [None, 3])
def test_default_impl_agrees_with_reference_after_realignment(channels):
    torch.manual_seed(0)
    m = PWLU(channels=channels)
    m.begin_statistics()
    m(torch.randn(16, 3, 5) * 0.7 + 0.4)
    m.realign()
    randomised(m, seed=4)
    x = torch.randn(16, 3, 5) * 2
    torch.testing.assert_close(m(x), m.reference_forward(x), rtol=1e-5, atol=1e-5)
