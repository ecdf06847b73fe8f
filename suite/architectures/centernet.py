"""A CPU-sized CenterNet ("Objects as Points", Zhou, Wang, Krähenbühl 2019, arXiv 1904.07850).

The embedded detection board needs a detector that learns the digit canvases within a
minute of one CPU core, so that ranking activations by its mAP means something.
torchvision's RetinaNet on the same canvases spends most of a step in per-image anchor
matching and learned little in that budget (mAP 0.00-0.05 on the smoke board). CenterNet
has no anchors: one heatmap per class at stride 4, whose peaks are the object centres, plus
a box size and a sub-cell offset regressed at each centre. Training and decoding are a few
batched tensor operations.

It follows torchvision's detection convention, so ``suite.tasks.detection`` drives it as
it drives RetinaNet: ``model(images, targets)`` in training returns a dict of losses;
``model(images)`` in eval returns one ``{"boxes" (xyxy), "scores", "labels"}`` per image.
Labels are 1..num_classes-1 (0 is unused, as in the digits data set), so the heatmap has
num_classes - 1 channels.

Losses as the paper (Sec. 3): the penalty-reduced focal loss on the heatmap (alpha 2,
beta 4) and L1 on size (weight 0.1) and offset (weight 1), each normalised by the number
of objects. One deviation, for objects of 2-6 cells: the Gaussian splat around each centre
has sigma = 0.54 w / 6 and 0.54 h / 6 (TTFNet's elliptical form, arXiv 1909.00700) instead
of CornerNet's radius formula. The heads put a GroupNorm between their 3x3 conv and
the activation (as RetinaNet's and FCOS's GroupNorm heads), so that every activation
of the network sees normalised inputs, as in the classifiers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from suite.architectures import image_sample, register_architecture
from suite.architectures.detection import TinyBody

STRIDE = 4
HEATMAP_PRIOR_BIAS = -2.19  # sigmoid(-2.19) = 0.1: the paper's initial heatmap score


class TinyUNetBody(nn.Module):
    """RetinaNet-tiny's body (stride 4/8/16 ResNet stages); the deeper two are upsampled and
    added into stride 4."""

    def __init__(self, in_chans: int, widths: tuple[int, int, int], out_channels: int):
        super().__init__()
        self.stages = TinyBody(in_chans, widths)
        self.lateral = nn.ModuleList(nn.Conv2d(w, out_channels, 1) for w in widths)

    def forward(self, x):
        c4 = self.stages.layer1(self.stages.stem(x))
        c8 = self.stages.layer2(c4)
        c16 = self.stages.layer3(c8)
        p8 = self.lateral[1](c8) + F.interpolate(self.lateral[2](c16), size=c8.shape[-2:], mode="nearest")
        return self.lateral[0](c4) + F.interpolate(p8, size=c4.shape[-2:], mode="nearest")


def _head(channels: int, outputs: int) -> nn.Sequential:
    # GroupNorm before the activation, as every activation of the body has BatchNorm before
    # it: without it the head feeds raw FPN sums to the activation, and polynomial ones
    # (Hermite, squared ReLU) blew the loss up to 1e8 within 10 steps.
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.GroupNorm(16, channels), nn.ReLU(),
        nn.Conv2d(channels, outputs, 1),
    )


class CenterNetTiny(nn.Module):
    def __init__(self, num_classes: int = 11, in_chans: int = 1, widths: tuple[int, int, int] = (32, 64, 96),
                 channels: int = 64, max_detections: int = 20):
        super().__init__()
        self.in_chans, self.num_classes, self.max_detections = in_chans, num_classes, max_detections
        self.body = TinyUNetBody(in_chans, widths, channels)
        self.heatmap = _head(channels, num_classes - 1)
        self.box = _head(channels, 4)  # width, height (in cells), offset x, offset y
        nn.init.constant_(self.heatmap[-1].bias, HEATMAP_PRIOR_BIAS)

    def forward(self, images, targets=None):
        x = torch.stack(list(images)) if isinstance(images, (list, tuple)) else images
        features = self.body(x)
        heatmap_logits, box = self.heatmap(features), self.box(features)
        if self.training:
            if targets is None:
                raise ValueError("CenterNetTiny in training mode needs targets (boxes and labels per image)")
            return self._losses(heatmap_logits, box, targets)
        return self._decode(heatmap_logits, box, x.shape[-2:])

    # ---------------------------------------------------------------- training
    def _losses(self, heatmap_logits, box, targets) -> dict[str, torch.Tensor]:
        n, classes, h, w = heatmap_logits.shape
        device = heatmap_logits.device
        boxes = [t["boxes"].to(device=device, dtype=torch.float32) for t in targets]
        image_of = torch.cat([torch.full((len(b),), i, device=device, dtype=torch.long) for i, b in enumerate(boxes)])
        boxes = torch.cat(boxes) / STRIDE
        labels = torch.cat([t["labels"].to(device) for t in targets]) - 1
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        sizes = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1 / STRIDE)
        cells = centres.floor().long()
        cells[:, 0].clamp_(0, w - 1)
        cells[:, 1].clamp_(0, h - 1)

        # Gaussian splats, one per object, max-reduced into its image's class channel.
        sigma = (0.54 * sizes / 6).clamp(min=1e-3)
        xs = torch.arange(w, device=device, dtype=torch.float32)
        ys = torch.arange(h, device=device, dtype=torch.float32)
        gx = torch.exp(-((xs[None] - cells[:, :1]) ** 2) / (2 * sigma[:, :1] ** 2))  # objects x w
        gy = torch.exp(-((ys[None] - cells[:, 1:]) ** 2) / (2 * sigma[:, 1:] ** 2))  # objects x h
        splats = gy[:, :, None] * gx[:, None, :]
        flat_channel = (image_of * classes + labels)[:, None].expand(-1, h * w)
        target = torch.zeros(n * classes, h * w, device=device)
        target = target.scatter_reduce(0, flat_channel, splats.flatten(1), "amax").view(n, classes, h, w)

        num_objects = max(len(labels), 1)
        log_p = F.logsigmoid(heatmap_logits)
        log_not_p = F.logsigmoid(-heatmap_logits)
        p = log_p.exp()
        positive = target == 1
        focal = torch.where(
            positive, (1 - p) ** 2 * log_p, (1 - target) ** 4 * p ** 2 * log_not_p,
        )
        heatmap_loss = -focal.sum() / num_objects

        at_centre = box[image_of, :, cells[:, 1], cells[:, 0]]  # objects x 4
        size_loss = F.l1_loss(at_centre[:, :2], sizes, reduction="sum") / num_objects
        offset_loss = F.l1_loss(at_centre[:, 2:], centres - cells, reduction="sum") / num_objects
        return {"heatmap": heatmap_loss, "size": 0.1 * size_loss, "offset": offset_loss}

    # ---------------------------------------------------------------- inference
    def _decode(self, heatmap_logits, box, image_size) -> list[dict[str, torch.Tensor]]:
        n, classes, h, w = heatmap_logits.shape
        scores = heatmap_logits.sigmoid()
        peaks = scores * (F.max_pool2d(scores, 3, stride=1, padding=1) == scores)  # 3x3 peak picking (the paper's NMS)
        k = min(self.max_detections, classes * h * w)
        top_scores, top_index = peaks.flatten(1).topk(k)
        channel, cell = top_index // (h * w), top_index % (h * w)
        cy, cx = (cell // w).float(), (cell % w).float()
        box = box.flatten(2)  # n x 4 x cells
        picked = box.gather(2, cell[:, None, :].expand(-1, 4, -1))  # n x 4 x k
        bw, bh, ox, oy = picked.unbind(1)
        x_centre, y_centre = (cx + ox) * STRIDE, (cy + oy) * STRIDE
        half_w, half_h = bw.clamp(min=0) * STRIDE / 2, bh.clamp(min=0) * STRIDE / 2
        height, width = image_size
        xyxy = torch.stack([
            (x_centre - half_w).clamp(0, width), (y_centre - half_h).clamp(0, height),
            (x_centre + half_w).clamp(0, width), (y_centre + half_h).clamp(0, height),
        ], dim=-1)
        return [{"boxes": xyxy[i], "scores": top_scores[i], "labels": channel[i] + 1} for i in range(n)]


@register_architecture(
    "centernet_tiny", task="detection", scale="embedded", input_size=(1, 64, 64),
    sample=image_sample(64), aliases=("centernet",),
    description="CenterNet (objects as points), stride-4 ResNet-UNet (64 ch) for 64 px digit canvases; "
                "the embedded board's detector",
)
def centernet_tiny(num_classes: int | None = None, in_chans: int = 1, **kw) -> CenterNetTiny:
    return CenterNetTiny(num_classes=num_classes or 11, in_chans=in_chans, **kw)
