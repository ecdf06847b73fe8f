"""Wide ResNet for CIFAR (Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016,
arXiv 1605.07146): WRN-28-10 with dropout.

Layout (the paper's Table 1 and the authors' models/wide-resnet.lua): a 3x3 convolution
to 16 channels; three groups of n = (depth - 4) / 6 pre-activation basic blocks with
16k, 32k and 64k channels (k = widen factor), the first block of groups 2 and 3 with
stride 2; BN-ReLU, global average pooling and a linear classifier. A block is
BN-ReLU-conv3x3, BN-ReLU, dropout, conv3x3, plus the shortcut; where the width changes
the shortcut is a 1x1 convolution of the block's first BN-ReLU output.

Dropout: the paper's best CIFAR results (WRN-28-10-dropout) put dropout with p = 0.3
between the two convolutions of every block; that is the default here.

WRN-28-10: 36.5M parameters (the paper's table). depth=10, widen_factor=1 (one block per
group, 16/32/64 channels) is the CPU-sized variant.
"""
from __future__ import annotations

from torch import nn

from suite.architectures import register_architecture
from suite.architectures.cifar_common import CIFAR_INPUT, bn_act, he_init, sample, stages
from suite.errors import bad_value


class WideBasic(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float):
        super().__init__()
        self.pre = nn.Sequential(*bn_act(c_in))
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.mid = nn.Sequential(*bn_act(c_out))
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.project = (nn.Conv2d(c_in, c_out, 1, stride, bias=False)
                        if stride != 1 or c_in != c_out else None)

    def forward(self, x):
        pre = self.pre(x)
        shortcut = self.project(pre) if self.project is not None else x
        out = self.conv1(pre)
        out = self.conv2(self.drop(self.mid(out)))
        return out + shortcut


class WideResNetCifar(nn.Module):
    def __init__(self, depth: int = 28, widen_factor: int = 10, dropout: float = 0.3, num_classes: int = 10,
                 in_chans: int = 3):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise bad_value("Wide ResNet depth", depth, "a depth with (depth - 4) % 6 == 0, e.g. 28 or 10")
        if int(widen_factor) < 1:
            raise bad_value("Wide ResNet widen_factor", widen_factor, "a positive integer, e.g. 10")
        if not 0 <= float(dropout) < 1:
            raise bad_value("Wide ResNet dropout", dropout, "a probability in [0, 1), e.g. 0.3")
        blocks_per_group = (depth - 4) // 6
        self.in_chans = in_chans
        self.stem = nn.Conv2d(in_chans, 16, 3, 1, 1, bias=False)
        self.groups, c_in = stages(16, (16 * widen_factor, 32 * widen_factor, 64 * widen_factor), blocks_per_group,
                                   lambda c, width, stride: WideBasic(c, width, stride, float(dropout)))
        self.head = nn.Sequential(*bn_act(c_in), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(c_in, num_classes)
        he_init(self)

    def forward(self, x):
        return self.fc(self.head(self.groups(self.stem(x))))


@register_architecture(
    "wrn28_10", task="classification", scale="paper", input_size=CIFAR_INPUT, sample=sample,
    aliases=("wide_resnet28_10", "wrn_28_10"),
    description="Wide ResNet 28-10 with dropout 0.3 for CIFAR, Zagoruyko & Komodakis 2016 (arXiv 1605.07146), 36.5M",
    paper_params=36.5e6,
)
def wrn28_10(num_classes: int | None = None, in_chans: int = 3, depth: int = 28, widen_factor: int = 10,
             dropout: float = 0.3, **kw) -> nn.Module:
    return WideResNetCifar(depth, widen_factor, dropout, num_classes or 10, in_chans, **kw)
