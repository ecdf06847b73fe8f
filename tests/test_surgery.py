"""Activation surgery on arbitrary modules: shared call sites, gates, functional calls."""
from __future__ import annotations

import copy
import io

import pytest
import timm
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from suite.architectures.surgery import (
    DEFAULT_POLICY,
    PerCallSite,
    Site,
    replace_activations,
)


class LeakySlope(nn.Module):
    """A learnable activation for surgery tests: relu(x) + a * min(x, 0); ReLU at a = 0."""

    def __init__(self, slope: float = 0.0):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(slope))

    def forward(self, x):
        return torch.relu(x) + self.a * torch.clamp(x, max=0)


def slope_factory(site: Site) -> nn.Module:
    return LeakySlope()


@pytest.fixture(scope="module")
def tv_resnet18():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        reference = model(x)
    swapped = copy.deepcopy(model)
    report = replace_activations(swapped, slope_factory, example_inputs=(x[:1],))
    return model, swapped, report, x, reference


def called_modules(block: nn.Module, model: nn.Module, x: torch.Tensor) -> list[int]:
    """ids of the LeakySlope modules that ran inside ``block`` during one forward, in order."""
    seen: list[int] = []
    handles = [m.register_forward_hook(lambda m, i, o: seen.append(id(m)))
               for m in block.modules() if isinstance(m, LeakySlope)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return seen


def test_torchvision_shared_relu_gets_one_activation_per_call_site(tv_resnet18):
    original, swapped, report, x, _ = tv_resnet18
    # torchvision's BasicBlock owns one ReLU and calls it twice.
    assert original.layer1[0].relu is original.layer1[0].relu
    block = swapped.layer1[0]
    assert isinstance(block.relu, PerCallSite) and len(block.relu.sites) == 2
    calls = called_modules(block, swapped, x)
    assert len(calls) == 2 and len(set(calls)) == 2, "each call site must run its own module"
    # 8 blocks x 2 call sites + the stem's ReLU: 17 activations, 17 parameters.
    assert report.sites == 17
    assert sum(isinstance(m, LeakySlope) for m in swapped.modules()) == 17
    assert report.params == 17
    assert sum(p.numel() for p in swapped.parameters()) == sum(p.numel() for p in original.parameters()) + 17
    assert all(not isinstance(m, nn.ReLU) for m in swapped.modules())


def test_relu_shaped_replacement_keeps_outputs_identical(tv_resnet18):
    _, swapped, _, x, reference = tv_resnet18
    swapped.eval()
    with torch.no_grad():
        torch.testing.assert_close(swapped(x), reference, rtol=0, atol=0)
        torch.testing.assert_close(swapped(x), reference, rtol=0, atol=0)  # counter reset between forwards


def test_call_sites_learn_separately(tv_resnet18):
    _, swapped, _, x, _ = tv_resnet18
    model = copy.deepcopy(swapped).train()
    model(x).square().mean().backward()
    first, second = model.layer1[0].relu.sites
    assert first.a.grad is not None and second.a.grad is not None
    assert first.a is not second.a


def test_per_call_site_survives_deepcopy_and_pickle(tv_resnet18):
    _, swapped, _, x, reference = tv_resnet18
    clone = copy.deepcopy(swapped).eval()
    buffer = io.BytesIO()
    torch.save(swapped, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False).eval()
    for model in (clone, loaded):
        with torch.no_grad():
            torch.testing.assert_close(model(x), reference, rtol=0, atol=0)
        calls = called_modules(model.layer2[1], model, x)
        assert len(set(calls)) == 2


def test_torchvision_bottleneck_three_call_sites():
    model = torchvision.models.resnet50(weights=None)
    report = replace_activations(model, slope_factory, example_inputs=(torch.randn(1, 3, 32, 32),))
    assert len(model.layer3[2].relu.sites) == 3
    assert report.sites == 1 + 16 * 3
    calls = called_modules(model.layer3[2], model.eval(), torch.randn(1, 3, 32, 32))
    assert len(set(calls)) == 3


class Head(nn.Module):
    """A head shared across pyramid levels: its activation is meant to be shared too."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())

    def forward(self, levels):
        return [self.conv(x) for x in levels]


def test_module_repeated_by_its_owner_in_a_loop_stays_one_site():
    head = Head()
    levels = [torch.randn(1, 4, s, s) for s in (8, 4, 2)]
    report = replace_activations(head, slope_factory, example_inputs=(levels,))
    assert isinstance(head.conv[1], LeakySlope)
    assert report.sites == 1


class Reuser(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 4), nn.Linear(4, 4)
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(self.fc2(self.act(self.fc1(x))))


def test_without_example_input_shared_modules_are_not_split():
    model = Reuser()
    report = replace_activations(model, slope_factory)
    assert isinstance(model.act, LeakySlope) and not report.traced
    assert "not traced" in str(report)


def test_per_call_site_refuses_untraced_extra_calls():
    model = Reuser()
    replace_activations(model, slope_factory, example_inputs=(torch.randn(2, 4),))
    assert isinstance(model.act, PerCallSite)
    model.act(torch.randn(2, 4))  # direct calls bypass the owner's reset
    model.act(torch.randn(2, 4))
    with pytest.raises(RuntimeError, match="traced 2 call sites"):
        model.act(torch.randn(2, 4))
    model(torch.randn(2, 4))  # a call of the owner resets the counter


def test_gates_and_skip_patterns_are_left_alone():
    model = timm.create_model("mobilenetv3_small_050", pretrained=False, num_classes=10)
    policy = DEFAULT_POLICY.with_skip("conv_head*", "*.se.*")
    report = replace_activations(model, slope_factory, policy, (torch.randn(1, 3, 32, 32),))
    gates = [path for path, _, reason in report.kept if reason == "gate"]
    assert gates and all(path.endswith(".gate") for path in gates)
    for path in gates:
        assert not isinstance(model.get_submodule(path), LeakySlope)
    skipped = [path for path, _, reason in report.kept if reason.startswith("skipped")]
    assert any(p.endswith(".se.act1") for p in skipped)
    for path in skipped:
        assert type(model.get_submodule(path)).__name__ in ("ReLU", "Hardswish", "HardSwish")
    # Everything else is replaced: both hard-swish and the ReLU blocks timm builds itself.
    assert {"Hardswish", "ReLU"} <= set(report.counts())
    assert report.sites == sum(isinstance(m, LeakySlope) for m in model.modules())


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.act = nn.SiLU()

    def forward(self, x):
        return F.gelu(self.act(self.fc(x))).relu()


def test_functional_activations_are_reported_not_hidden():
    model = nn.Sequential(nn.Linear(3, 3), Functional())
    report = replace_activations(model, slope_factory, example_inputs=(torch.randn(2, 3),))
    assert isinstance(model[1].act, LeakySlope)
    assert sorted(report.functional) == [("1", "F.gelu"), ("1", "Tensor.relu")]
    text = str(report)
    assert "NOT replaced" in text and "F.gelu" in text
    # The inserted module is opaque to the scan: its own torch.relu is not reported.
    assert all(fn != "torch.relu" for _, fn in report.functional)


def test_sites_carry_shape_and_width():
    seen: list[Site] = []

    def factory(site):
        seen.append(site)
        return LeakySlope()

    conv = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    replace_activations(conv, factory, example_inputs=(torch.randn(1, 3, 6, 6),))
    seq = nn.Sequential(nn.Linear(16, 32), nn.GELU())
    replace_activations(seq, factory, example_inputs=(torch.randn(2, 5, 16),))
    assert (seen[0].channels, seen[0].channel_dim, seen[0].input_shape) == (8, 1, (1, 8, 4, 4))
    assert (seen[1].channels, seen[1].channel_dim, seen[1].input_shape) == (32, -1, (2, 5, 32))


def test_report_string_counts_types():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2), nn.SiLU(), nn.Sigmoid())
    report = replace_activations(model, slope_factory, example_inputs=(torch.randn(1, 2),))
    assert report.counts() == {"ReLU": 1, "SiLU": 1}
    assert report.kept == [("4", "Sigmoid", "gate")]
    assert "replaced 2 modules at 2 call sites" in str(report) and "LeakySlope" in str(report)
