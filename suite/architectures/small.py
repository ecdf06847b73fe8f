"""Small classifiers for the embedded digits data (8x8 grey images, 10 classes).

They train on one CPU core in seconds per epoch, so an activation matrix runs on a
laptop. Both accept 1 or 3 input channels and any input of at least 8x8 pixels (global
average pooling), e.g. 32x32. Built with ``nn.ReLU`` placeholders; ``create`` swaps them.
"""
from __future__ import annotations

from torch import nn

from suite.architectures import image_sample, register_architecture


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out)]


class BasicBlock(nn.Module):
    """ResNet basic block; two activation modules, one per call site."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Sequential(*_conv_bn(c_in, c_out, stride))
        self.act1 = nn.ReLU()
        self.conv2 = nn.Sequential(*_conv_bn(c_out, c_out))
        self.shortcut = (
            nn.Identity() if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        )
        self.act2 = nn.ReLU()

    def forward(self, x):
        return self.act2(self.conv2(self.act1(self.conv1(x))) + self.shortcut(x))


class ResNetTiny(nn.Module):
    """A 3-stage ResNet (widths 32/64/128, one basic block each, ~0.3M parameters)."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1, widths: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        self.in_chans = in_chans
        self.stem = nn.Sequential(*_conv_bn(in_chans, widths[0]), nn.ReLU())
        blocks, c_in = [], widths[0]
        for i, width in enumerate(widths):
            blocks.append(BasicBlock(c_in, width, stride=1 if i == 0 else 2))
            c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))


class CNNSmall(nn.Module):
    """Three conv-BN-activation layers and a linear classifier (~25k parameters)."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1, widths: tuple[int, ...] = (16, 32, 64)):
        super().__init__()
        self.in_chans = in_chans
        layers, c_in = [], in_chans
        for i, width in enumerate(widths):
            layers += [*_conv_bn(c_in, width, stride=1 if i == 0 else 2), nn.ReLU()]
            c_in = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


@register_architecture(
    "resnet_tiny", task="classification", scale="embedded", input_size=(1, 8, 8),
    sample=image_sample(8),
    description="3-stage ResNet (32/64/128, BN) for 8x8 digits, ~0.3M parameters",
)
def resnet_tiny(num_classes: int | None = None, in_chans: int = 1, **kw) -> nn.Module:
    return ResNetTiny(num_classes or 10, in_chans, **kw)


@register_architecture(
    "cnn_small", task="classification", scale="embedded", input_size=(1, 8, 8),
    sample=image_sample(8),
    description="3 conv-BN layers (16/32/64) for 8x8 digits, ~25k parameters, fastest",
)
def cnn_small(num_classes: int | None = None, in_chans: int = 1, **kw) -> nn.Module:
    return CNNSmall(num_classes or 10, in_chans, **kw)
