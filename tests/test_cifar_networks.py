"""The CIFAR networks of the Swish paper's Tables 4-5, held to their own papers.

Parameter counts: each paper prints its network's count rounded to its last digit
(pre-activation ResNet-164: 1.7M, He et al. 2016, arXiv 1603.05027; WRN-28-10: 36.5M,
Zagoruyko & Komodakis 2016, arXiv 1605.07146; DenseNet-BC L=100 k=12: 0.8M, Huang et al.
2017, arXiv 1608.06993). Where they were checked: DenseNet's 0.8M in the authors' README
table (github.com/liuzhuang13/DenseNet); the other two tables were not readable here, and
their numbers agree with secondary sources found (a CIFAR benchmark table listing
ResNet-164 at 1.70M, a WRN scaling script labelling wrn-28-10 "36.5M"). The tolerance is half a unit of
that last digit (0.05M): the count must round to the printed number, which a wrong
width or compression breaks (``test_near_miss_layouts_fail_the_count``).
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

import suite.architectures as arch
from suite.activations.base import Activation
from suite.errors import SuiteError

# name -> (count the paper prints, in millions; hidden activations of the full network)
PAPERS = {
    "resnet164": (1.7, 3 * 54 + 1),        # 3 per bottleneck unit x 18 units x 3 stages, + final BN-ReLU
    "wrn28_10": (36.5, 2 * 12 + 1),        # 2 per block x 4 blocks x 3 groups, + final
    "densenet100_12": (0.8, 2 * 48 + 2 + 1),  # 2 per layer x 16 x 3 blocks, 2 transitions, + final
}
# CPU-sized variants (kwargs of the same builders) and their hidden activations
SMALL = {
    "resnet164": ({"depth": 11}, 3 * 3 + 1),
    "wrn28_10": ({"depth": 10, "widen_factor": 1}, 2 * 3 + 1),
    "densenet100_12": ({"depth": 10, "growth_rate": 4}, 2 * 3 + 2 + 1),
}


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_parameter_count_rounds_to_the_papers_number(name):
    stated, _ = PAPERS[name]
    count = arch.parameter_count(name)  # built on the meta device, 10 classes
    assert abs(count / 1e6 - stated) <= 0.05, f"{name}: {count / 1e6:.3f}M, paper {stated}M"
    assert arch.ARCHITECTURES.get(name).info["paper_params"] == stated * 1e6


@pytest.mark.parametrize("name,kwargs", [
    ("densenet100_12", {"compression": 1.0}),  # DenseNet-B without the C: 1.21M
    ("resnet164", {"base": 12}),                # stage widths 48/96/192 instead of 64/128/256: 0.96M
    ("wrn28_10", {"widen_factor": 9}),          # WRN-28-9: 29.6M
])
def test_near_miss_layouts_fail_the_count(name, kwargs):
    stated, _ = PAPERS[name]
    with torch.device("meta"):
        model = arch.build_stock(name, **kwargs)
    assert abs(sum(p.numel() for p in model.parameters()) / 1e6 - stated) > 0.05


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_surgery_replaces_every_nonlinearity_of_the_full_network(name):
    _, sites = PAPERS[name]
    with torch.device("meta"):
        model, report = arch.create(name, act="elu", return_report=True)
    assert report.sites == sites and not report.functional and not report.kept
    assert not [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert sum(isinstance(m, Activation) for m in model.modules()) == sites


@pytest.mark.parametrize("name", sorted(SMALL))
def test_cpu_variant_trains_with_a_per_channel_activation(name):
    kwargs, sites = SMALL[name]
    torch.manual_seed(0)
    # the reference implementation: the fused CPU kernel compiles once per width (minutes here)
    model, report = arch.create(name, act="prelu", act_params={"per_channel": True, "impl": "reference"},
                                num_classes=100, return_report=True, **kwargs)
    assert report.sites == sites and not report.functional
    assert sum(p.numel() for p in model.parameters()) < 200_000
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 100, (4,))
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    slopes = [m.weight for m in model.modules() if isinstance(m, Activation)]
    assert len(slopes) == sites and all(s.grad is not None and s.grad.abs().sum() > 0 for s in slopes)


def test_wrn_has_dropout_03_between_its_convolutions_and_can_turn_it_off():
    with torch.device("meta"):
        model = arch.build_stock("wrn28_10")
        plain = arch.build_stock("wrn28_10", dropout=0.0)
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 12 and {d.p for d in drops} == {0.3}
    assert not [m for m in plain.modules() if isinstance(m, nn.Dropout)]


def test_densenet_transitions_compress_by_half():
    with torch.device("meta"):
        model = arch.build_stock("densenet100_12")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)]
    transitions = [c for c in convs if c.out_channels != 48]  # bottleneck 1x1 convs output 4k = 48
    # block 1 ends at 24 + 16*12 = 216 channels, block 2 at 108 + 192 = 300
    assert [(c.in_channels, c.out_channels) for c in transitions] == [(216, 108), (300, 150)]
    assert model.fc.in_features == 150 + 16 * 12


def test_convolutions_start_from_he_init():
    torch.manual_seed(0)
    model = arch.build_stock("wrn28_10", depth=10, widen_factor=4)
    conv = model.groups[1][0].conv2  # 128 -> 128, 3x3
    expected = (2.0 / (3 * 3 * conv.out_channels)) ** 0.5
    assert abs(conv.weight.std().item() - expected) / expected < 0.02
    assert torch.equal(model.fc.bias, torch.zeros_like(model.fc.bias))


@pytest.mark.parametrize("name,kwargs,accepted", [
    ("resnet164", {"depth": 21}, r"\(depth - 2\) % 9 == 0"),
    ("wrn28_10", {"depth": 27}, r"\(depth - 4\) % 6 == 0"),
    ("wrn28_10", {"dropout": 1.5}, r"dropout 1.5 is not accepted"),
    ("densenet100_12", {"depth": 99}, r"\(depth - 4\) % 6 == 0"),
])
def test_a_depth_the_layout_cannot_build_is_one_error(name, kwargs, accepted):
    with pytest.raises(SuiteError, match=accepted):
        arch.build_stock(name, **kwargs)
