"""The activation registry: names, aliases, suggestions, defaults, timm, bad parameters."""
import pytest
import torch

import suite.activations as acts
from suite.activations.catalog import build_defaults
from suite.errors import SuiteError

C = 3


def _build(name, **extra):
    # impl="reference": the fused kernels compile on first use (slow on CPU) and have
    # their own tests in test_fused.py; here we test the registry and the formulas.
    extra.setdefault("impl", "reference")
    entry = acts.ACTIVATIONS.get(name)
    if entry.info.get("needs_channels"):
        extra.setdefault("channels", C)
    return entry, build_defaults(entry, **extra)


def test_unknown_name_suggests_closest():
    with pytest.raises(SuiteError) as err:
        acts.create("swsh")
    assert "swish" in str(err.value)


@pytest.mark.parametrize("alias,name", [("swish", "silu"), ("kan", "bspline"), ("pade", "pau"), ("lrelu", "leaky_relu")])
def test_aliases_build_the_same_class(alias, name):
    assert type(acts.create(alias)) is type(acts.create(name))


@pytest.mark.parametrize("name", acts.names())
def test_every_name_builds_runs_forward_backward(name):
    torch.manual_seed(0)
    entry, module = _build(name)
    shapes = [(2, C, 4, 5), (2, C, 7)]  # (N, C, H, W) images and (N, C, L) sequences
    if not entry.info.get("needs_channels"):
        shapes.append((2, 6, C))  # (N, L, C): per-layer parameters broadcast anywhere
    for shape in shapes:
        x = torch.randn(shape, requires_grad=True)
        y = module(x)
        assert y.shape == x.shape and torch.isfinite(y).all()
        y.square().sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        if entry.info["learnable"]:
            grads = [p.grad for p in module.parameters() if p.requires_grad]
            assert grads and all(g is not None for g in grads)


@pytest.mark.parametrize("name", acts.names())
def test_every_name_accepts_inplace(name):
    _, module = _build(name, inplace=True)
    x = torch.randn(2, C, 4, 4)
    reference = _build(name)[1]
    reference.load_state_dict(module.state_dict())
    torch.testing.assert_close(module(x.clone()), reference(x))


@pytest.mark.parametrize("name,cls,param", [("pwlu", "PWLU", "heights"), ("prelu", "PReLU", "weight")])
def test_timm_resnet18_trains_with_a_learnable_act_layer(name, cls, param):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = timm.create_model("resnet18", pretrained=False, num_classes=10, act_layer=acts.act_layer(name))
    layers = [m for m in model.modules() if type(m).__name__ == cls]
    assert layers
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [getattr(m, param).detach().clone() for m in layers]
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 32, 32)), torch.tensor([1, 2]))
    loss.backward()
    opt.step()
    after = [getattr(m, param).detach() for m in layers]
    assert any(not torch.equal(a, b) for a, b in zip(before, after))


@pytest.mark.parametrize("name,params,parameter", [
    ("leaky_relu", {"negative_slope": 1.5}, "negative_slope"),
    ("elu", {"alpha": -1.0}, "alpha"),
    ("prelu", {"channels": 0}, "channels"),
    ("swish_beta", {"channels": 2.5}, "channels"),
    ("sqish", {"beta": 0.0}, "beta"),
    ("meta_acon", {}, "channels"),
    ("meta_acon", {"channels": 8, "reduction": 0}, "reduction"),
    ("pau", {"numerator_degree": 0}, "numerator_degree"),
    ("pau", {"init": "tanh"}, "init"),
    ("bspline", {"grid_range": (2.0, -2.0)}, "grid_range"),
    ("bspline", {"grid_size": 0}, "grid_size"),
    ("relu", {"impl": "fast"}, "impl"),
    ("gelu", {"slope": 1.0}, "slope"),
    ("hermite", {}, "degree"),
    ("hermite", {"degree": 0}, "degree"),
    ("tropical", {"degree": 0}, "degree"),
    ("pwlu", {"regions": -2}, "regions"),
    ("pwlu", {"bounds": (1, -1)}, "bounds"),
    ("pwlu", {"init": "softsign"}, "init"),
    ("pwlu", {"channels": 0}, "channels"),
])
def test_bad_parameters_raise_suite_error_naming_them(name, params, parameter):
    with pytest.raises(SuiteError) as err:
        acts.create(name, **params)
    assert parameter in str(err.value)
