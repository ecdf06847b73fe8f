"""What the three CIFAR networks of the Swish paper's Tables 4-5 share: 32x32 input, He init.

The 2016 CIFAR papers (pre-activation ResNet, Wide ResNet, DenseNet) all trained in
Torch with fb.resnet.torch's initialisation: convolutions drawn from N(0, 2 / (k*k*C_out))
(He et al. 2015, "fan out"), batch-norm scale 1 and shift 0, classifier bias 0. PyTorch's
default (a uniform draw scaled by fan-in) differs, so the builders call ``he_init``.
"""
from __future__ import annotations

from torch import nn

from suite.architectures import image_sample

CIFAR_INPUT = (3, 32, 32)
sample = image_sample(32)


def he_init(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)
    return model


def bn_act(channels: int) -> list[nn.Module]:
    """Pre-activation: batch norm then a ReLU placeholder (one module per call site, for surgery)."""
    return [nn.BatchNorm2d(channels), nn.ReLU()]


def stages(c_in: int, widths: tuple[int, ...], blocks_per_stage: int, block) -> tuple[nn.Sequential, int]:
    """The ResNet-style stages of the CIFAR networks: ``blocks_per_stage`` blocks of each
    width, the first block of every stage but the first with stride 2.
    ``block(c_in, width, stride)``; returns the stages and their output width."""
    out = []
    for i, width in enumerate(widths):
        blocks = []
        for j in range(blocks_per_stage):
            blocks.append(block(c_in, width, 2 if i > 0 and j == 0 else 1))
            c_in = width
        out.append(nn.Sequential(*blocks))
    return nn.Sequential(*out), c_in
