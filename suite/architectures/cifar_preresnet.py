"""Pre-activation ResNet with bottleneck units for CIFAR (He, Zhang, Ren, Sun, "Identity
Mappings in Deep Residual Networks", ECCV 2016, arXiv 1603.05027): ResNet-164.

Layout (the paper's Sec. 4 and the authors' resnet-1k-layers code): a 3x3 convolution to
16 channels; three stages of n = (depth - 2) / 9 bottleneck units whose outputs have 64,
128 and 256 channels (inner width a quarter of that), the first unit of stages 2 and 3
with stride 2; a final BN-ReLU, global average pooling and a linear classifier. Each unit
is BN-ReLU-conv1x1, BN-ReLU-conv3x3, BN-ReLU-conv1x1 plus the shortcut; where the shape
changes the shortcut is a 1x1 projection that reads the unit's first BN-ReLU output
(the pre-activation is shared by both branches), otherwise it is the identity.

ResNet-164: depth 164, n = 18, 1.7M parameters (the paper's Table). Any depth with
(depth - 2) % 9 == 0 builds, so depth=11 (one unit per stage) is the CPU-sized variant.
"""
from __future__ import annotations

from torch import nn

from suite.architectures import register_architecture
from suite.architectures.cifar_common import CIFAR_INPUT, bn_act, he_init, sample, stages
from suite.errors import bad_value

EXPANSION = 4


class PreActBottleneck(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        inner = c_out // EXPANSION
        self.pre = nn.Sequential(*bn_act(c_in))
        self.conv1 = nn.Conv2d(c_in, inner, 1, bias=False)
        self.act2 = nn.Sequential(*bn_act(inner))
        self.conv2 = nn.Conv2d(inner, inner, 3, stride, 1, bias=False)
        self.act3 = nn.Sequential(*bn_act(inner))
        self.conv3 = nn.Conv2d(inner, c_out, 1, bias=False)
        self.project = (nn.Conv2d(c_in, c_out, 1, stride, bias=False)
                        if stride != 1 or c_in != c_out else None)

    def forward(self, x):
        pre = self.pre(x)
        # The projection reads the pre-activated input; the identity reads x itself.
        shortcut = self.project(pre) if self.project is not None else x
        out = self.conv1(pre)
        out = self.conv2(self.act2(out))
        out = self.conv3(self.act3(out))
        return out + shortcut


class PreActResNetCifar(nn.Module):
    def __init__(self, depth: int = 164, num_classes: int = 10, in_chans: int = 3, base: int = 16):
        super().__init__()
        if depth < 11 or (depth - 2) % 9:
            raise bad_value("pre-activation ResNet depth", depth, "a depth with (depth - 2) % 9 == 0, e.g. 164 or 11")
        units = (depth - 2) // 9
        self.in_chans = in_chans
        self.stem = nn.Conv2d(in_chans, base, 3, 1, 1, bias=False)
        self.stages, c_in = stages(base, (base * EXPANSION, base * EXPANSION * 2, base * EXPANSION * 4), units,
                                   lambda c, width, stride: PreActBottleneck(c, width, stride=stride))
        self.head = nn.Sequential(*bn_act(c_in), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(c_in, num_classes)
        he_init(self)

    def forward(self, x):
        return self.fc(self.head(self.stages(self.stem(x))))


@register_architecture(
    "resnet164", task="classification", scale="paper", input_size=CIFAR_INPUT, sample=sample,
    aliases=("preact_resnet164", "preresnet164"),
    description="pre-activation ResNet-164 (bottleneck) for CIFAR, He et al. 2016 (arXiv 1603.05027), 1.7M",
    paper_params=1.7e6,
)
def resnet164(num_classes: int | None = None, in_chans: int = 3, depth: int = 164, **kw) -> nn.Module:
    return PreActResNetCifar(depth, num_classes or 10, in_chans, **kw)
