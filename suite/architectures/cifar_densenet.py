"""DenseNet-BC for CIFAR (Huang, Liu, van der Maaten, Weinberger, "Densely Connected
Convolutional Networks", CVPR 2017, arXiv 1608.06993): DenseNet-BC with L = 100, k = 12.

Layout (the paper's Sec. 3-4 and the authors' densenet.lua): a 3x3 convolution to 2k
channels; three dense blocks of n = (depth - 4) / 6 bottleneck layers (BN-ReLU-conv1x1
to 4k channels, BN-ReLU-conv3x3 to k channels, the output concatenated to the input);
between blocks a transition (BN-ReLU-conv1x1 to floor(0.5 C) channels, 2x2 average
pooling: compression 0.5, the "C" of BC); BN-ReLU, global average pooling and a linear
classifier. With the standard augmentation the paper uses no dropout (its drop rate 0.2
is for the runs without augmentation).

DenseNet-BC (L=100, k=12): 0.8M parameters (the paper's Table 2). depth=10, growth_rate=4
(one layer per block) is the CPU-sized variant.
"""
from __future__ import annotations

import torch
from torch import nn

from suite.architectures import register_architecture
from suite.architectures.cifar_common import CIFAR_INPUT, bn_act, he_init, sample
from suite.errors import bad_value


class DenseLayer(nn.Module):
    def __init__(self, c_in: int, growth: int):
        super().__init__()
        self.body = nn.Sequential(
            *bn_act(c_in), nn.Conv2d(c_in, 4 * growth, 1, bias=False),
            *bn_act(4 * growth), nn.Conv2d(4 * growth, growth, 3, 1, 1, bias=False),
        )

    def forward(self, x):
        return torch.cat([x, self.body(x)], dim=1)


def transition(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(*bn_act(c_in), nn.Conv2d(c_in, c_out, 1, bias=False), nn.AvgPool2d(2))


class DenseNetBCCifar(nn.Module):
    def __init__(self, depth: int = 100, growth_rate: int = 12, num_classes: int = 10, in_chans: int = 3,
                 compression: float = 0.5):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise bad_value("DenseNet-BC depth", depth, "a depth with (depth - 4) % 6 == 0, e.g. 100 or 10")
        if int(growth_rate) < 1:
            raise bad_value("DenseNet-BC growth_rate", growth_rate, "a positive integer, e.g. 12")
        layers_per_block = (depth - 4) // 6  # each bottleneck layer holds two convolutions
        self.in_chans = in_chans
        channels = 2 * growth_rate
        features: list[nn.Module] = [nn.Conv2d(in_chans, channels, 3, 1, 1, bias=False)]
        for b in range(3):
            for _ in range(layers_per_block):
                features.append(DenseLayer(channels, growth_rate))
                channels += growth_rate
            if b < 2:
                out = int(channels * compression)
                features.append(transition(channels, out))
                channels = out
        self.features = nn.Sequential(*features)
        self.head = nn.Sequential(*bn_act(channels), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(channels, num_classes)
        he_init(self)

    def forward(self, x):
        return self.fc(self.head(self.features(x)))


@register_architecture(
    "densenet100_12", task="classification", scale="paper", input_size=CIFAR_INPUT, sample=sample,
    aliases=("densenet_bc_100_12", "densenet_bc100"),
    description="DenseNet-BC L=100 k=12 for CIFAR, Huang et al. 2017 (arXiv 1608.06993), 0.8M",
    paper_params=0.8e6,
)
def densenet100_12(num_classes: int | None = None, in_chans: int = 3, depth: int = 100, growth_rate: int = 12,
                   **kw) -> nn.Module:
    return DenseNetBCCifar(depth, growth_rate, num_classes or 10, in_chans, **kw)
