"""Detectors: torchvision's RetinaNet and Mask R-CNN at paper scale, and a CPU-sized RetinaNet.

RetinaNet has no background class (sigmoid focal loss): labels are 0 .. num_classes-1,
and COCO with its category ids 1..90 uses torchvision's num_classes=91. The models take
a list of (C, H, W) images (and, in training, a list of target dicts with ``boxes``
(x1, y1, x2, y2) and ``labels``) and return torchvision's losses or detections.

Backbone and head activations are swapped by ``create``; torchvision's own ``F.relu``
between the P6 and P7 levels of ``retinanet_resnet50_fpn`` is functional and cannot
be (the surgery report lists it). Without pretrained backbone weights torchvision uses
plain, trainable BatchNorm, never FrozenBatchNorm.

Mask R-CNN R50-FPN (PWLU's other COCO setting) counts the background as class 0, so COCO
also takes num_classes=91. torchvision's box head calls ``F.relu`` in its forward, out of
surgery's reach; ``ModuleTwoMLPHead`` is the same head (same parameters and state-dict
keys) with ``nn.ReLU`` modules, so its activations are swapped like every other. Training
it needs instance masks in the targets (``masks``: N x H x W), as torchvision asks:
``needs_masks=True`` in its entry makes the detection task load them.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from functools import partial

import torch
from torch import nn
from torchvision.models.detection import MaskRCNN, RetinaNet, maskrcnn_resnet50_fpn, retinanet_resnet50_fpn
from torchvision.models.detection.faster_rcnn import TwoMLPHead
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.retinanet import RetinaNetHead

from suite.architectures import register_architecture
from suite.architectures.small import BasicBlock
from suite.errors import SuiteError


@contextlib.contextmanager
def _small_image_sample(model: RetinaNet | MaskRCNN, size: int = 64):
    """One small image, with the detector's resize shrunk to it for the traced forward."""
    transform = model.transform
    saved = transform.min_size, transform.max_size
    transform.min_size, transform.max_size = (size,), size
    channels = len(transform.image_mean)
    device = next(model.parameters()).device
    try:
        yield ([torch.rand(channels, size, size, device=device)],)
    finally:
        transform.min_size, transform.max_size = saved


@register_architecture(
    "retinanet_resnet50_fpn", task="detection", scale="paper", input_size=(3, 800, 800),
    sample=_small_image_sample, aliases=("retinanet", "retinanet_r50"),
    description="RetinaNet, ResNet-50-FPN backbone (torchvision), COCO; PWLU's detection setting",
)
def retinanet_r50(num_classes: int | None = None, **kw) -> RetinaNet:
    if kw.get("weights") or kw.get("weights_backbone"):
        raise SuiteError("pretrained weights are not accepted for 'retinanet_resnet50_fpn'; the suite trains from scratch.")
    kw.update(weights=None, weights_backbone=None)
    return retinanet_resnet50_fpn(num_classes=num_classes or 91, **kw)


class ModuleTwoMLPHead(TwoMLPHead):
    """torchvision's Fast R-CNN box head with its two ReLUs as modules (surgery can swap them)."""

    def __init__(self, in_channels: int, representation_size: int):
        super().__init__(in_channels, representation_size)
        self.act6, self.act7 = nn.ReLU(), nn.ReLU()

    def forward(self, x):
        x = x.flatten(start_dim=1)
        return self.act7(self.fc7(self.act6(self.fc6(x))))


@register_architecture(
    "maskrcnn_resnet50_fpn", task="detection", scale="paper", input_size=(3, 800, 800),
    sample=_small_image_sample, aliases=("maskrcnn", "mask_rcnn_r50_fpn"), needs_masks=True,
    description="Mask R-CNN, ResNet-50-FPN backbone (torchvision), COCO; PWLU's other detection setting",
)
def maskrcnn_r50(num_classes: int | None = None, **kw) -> MaskRCNN:
    if kw.get("weights") or kw.get("weights_backbone"):
        raise SuiteError("pretrained weights are not accepted for 'maskrcnn_resnet50_fpn'; the suite trains from scratch.")
    kw.update(weights=None, weights_backbone=None)
    model = maskrcnn_resnet50_fpn(num_classes=num_classes or 91, **kw)
    stock = model.roi_heads.box_head
    head = ModuleTwoMLPHead(stock.fc6.in_features, stock.fc6.out_features)
    head.load_state_dict(stock.state_dict())  # keeps torchvision's own initialisation
    model.roi_heads.box_head = head
    model.register_forward_pre_hook(_require_masks, with_kwargs=True)
    return model


def _require_masks(model: nn.Module, args: tuple, kwargs: dict):
    """One clear error instead of torchvision's KeyError deep in the mask head."""
    targets = args[1] if len(args) > 1 else kwargs.get("targets")
    if model.training and targets and any("masks" not in t for t in targets):
        given = next(t for t in targets if "masks" not in t)
        raise SuiteError(
            "maskrcnn_resnet50_fpn trains on instance masks: every target needs 'masks' (N x H x W), but a "
            f"target gave only {', '.join(sorted(given))}; use a data set with instance masks (coco), or "
            "retinanet_resnet50_fpn for boxes only."
        )


class TinyBody(nn.Module):
    """A 3-stage ResNet body (strides 4/8/16, widths 32/64/96) for FPN."""

    def __init__(self, in_chans: int = 3, widths: tuple[int, ...] = (32, 64, 96)):
        super().__init__()
        stem = widths[0] // 2
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU()
        )
        c_in = stem
        for i, width in enumerate(widths, start=1):
            setattr(self, f"layer{i}", BasicBlock(c_in, width, stride=2))
            c_in = width
        self.widths = tuple(widths)

    def forward(self, x):
        x = self.stem(x)
        for i in range(1, len(self.widths) + 1):
            x = getattr(self, f"layer{i}")(x)
        return x


@register_architecture(
    "retinanet_tiny", task="detection", scale="embedded", input_size=(1, 64, 64),
    sample=partial(_small_image_sample, size=64), aliases=("retinanet_small",),
    description="RetinaNet, 3-stage ResNet-FPN (64 ch) for 64 px digit canvases; trains on a CPU",
)
def retinanet_tiny(
    num_classes: int | None = None, in_chans: int = 1, image_size: int = 64, fpn_channels: int = 64, **kw
) -> RetinaNet:
    """Sized for ``digits-detection``: grey canvases, digits of 6-22 px, already normalised
    by the data set (so the detector's own normalisation defaults to the identity).
    num_classes defaults to 11: labels 1..10 for the digits 0..9, as the data set gives.
    """
    body = TinyBody(in_chans)
    return_layers = OrderedDict((f"layer{i}", str(i - 1)) for i in range(1, len(body.widths) + 1))
    backbone = BackboneWithFPN(body, return_layers, list(body.widths), fpn_channels)  # + max-pool level
    # Levels at strides 4, 8, 16, 32; two sizes and three aspect ratios per level.
    sizes = ((6, 9), (12, 18), (24, 36), (48, 72))
    anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))
    num_classes = num_classes or 11
    head = RetinaNetHead(
        fpn_channels, anchors.num_anchors_per_location()[0], num_classes,
        norm_layer=partial(nn.GroupNorm, 16),  # GroupNorm head (RetinaNet v2): stable from scratch
    )
    kw.setdefault("min_size", image_size)
    kw.setdefault("max_size", image_size)
    kw.setdefault("image_mean", [0.0] * in_chans)
    kw.setdefault("image_std", [1.0] * in_chans)
    return RetinaNet(backbone, num_classes, anchor_generator=anchors, head=head, **kw)
