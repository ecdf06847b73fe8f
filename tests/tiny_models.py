"""Tiny stand-in models for testing the task layer on its own (tests/test_tasks.py,
tests/test_resume.py): the loop, checkpoints and metrics do not depend on which network
trains, so these keep each run to a second or two. ``use_tiny_models(monkeypatch)`` swaps
them in for ``suite.architectures.create``; the activation name "learnable" gives a
learnable (PReLU-like) suite Activation, "per-channel" a per-channel one, anything else ReLU.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from suite.activations.base import Activation


class PlainReLU(Activation):
    def reference_forward(self, x):
        return torch.relu(x)


class LearnableSlope(Activation):
    """max(x, 0) + a * min(x, 0) with one learnable slope."""

    def __init__(self, **kw):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(0.25))

    def reference_forward(self, x):
        return torch.clamp(x, min=0) + self.a * torch.clamp(x, max=0)


class PerChannelSlope(Activation):
    def __init__(self, channels: int, **kw):
        super().__init__()
        self.channels = channels
        self.a = nn.Parameter(torch.linspace(0.0, 0.5, channels))

    def reference_forward(self, x):
        a = self.a.view(1, -1, *([1] * (x.ndim - 2)))
        return torch.clamp(x, min=0) + a * torch.clamp(x, max=0)


def activation(name: str, channels: int) -> nn.Module:
    if name == "learnable":
        return LearnableSlope()
    if name == "per-channel":
        return PerChannelSlope(channels)
    return PlainReLU()


class TinyCNN(nn.Module):
    def __init__(self, act: str, in_chans: int, num_classes: int):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 16, 3, padding=1)
        self.act = activation(act, 16)
        self.head = nn.Linear(16 * 4 * 4, num_classes)

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.act(self.conv(x)), 4)
        return self.head(x.flatten(1))


class TinyLM(nn.Module):
    """Embedding -> causal mixing by a cumulative mean -> MLP -> logits over the vocabulary."""

    def __init__(self, act: str, vocab_size: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, 32)
        self.up = nn.Linear(64, 64)
        self.act = activation(act, 64)
        self.out = nn.Linear(64, vocab_size)

    def forward(self, idx):
        e = self.embed(idx)
        steps = torch.arange(1, idx.shape[1] + 1, device=idx.device).view(1, -1, 1)
        context = e.cumsum(dim=1) / steps
        h = self.act(self.up(torch.cat([e, context], dim=-1)).transpose(1, 2)).transpose(1, 2)
        return self.out(h)


def tiny_detector(act: str, in_chans: int, num_classes: int) -> nn.Module:
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    backbone = nn.Sequential(nn.Conv2d(in_chans, 32, 3, 2, 1), activation(act, 32), nn.Conv2d(32, 64, 3, 2, 1),
                             activation(act, 64), nn.Conv2d(64, 64, 3, 1, 1), activation(act, 64))
    backbone.out_channels = 64
    anchors = AnchorGenerator(sizes=((16,),), aspect_ratios=((1.0,),))
    return FCOS(backbone, num_classes=num_classes, min_size=64, max_size=64, image_mean=[0.0] * in_chans,
                image_std=[1.0] * in_chans, anchor_generator=anchors, score_thresh=0.05, detections_per_img=20,
                topk_candidates=100)


def create_model(cell, recipe, **kw) -> nn.Module:
    if cell.task == "classification":
        return TinyCNN(cell.activation, kw["in_chans"], kw["num_classes"])
    if cell.task == "lm":
        return TinyLM(cell.activation, kw["vocab_size"])
    return tiny_detector(cell.activation, kw["in_chans"], kw["num_classes"])


def install() -> None:
    """Use the tiny models for every cell in this process (for subprocesses)."""
    import suite.tasks.models

    suite.tasks.models.create_model = create_model


def use_tiny_models(monkeypatch) -> None:
    import suite.tasks.models

    monkeypatch.setattr(suite.tasks.models, "create_model", create_model)


@contextlib.contextmanager
def single_threaded(monkeypatch):
    """The tiny registered models, one torch thread (a killed or resumed child runs with one
    thread too: the same reduction order, so exact resume can be asserted) and no stop
    request left over from another test."""
    from suite.tasks.loop import clear_stop_request

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    use_tiny_models(monkeypatch)
    clear_stop_request()
    try:
        yield
    finally:
        clear_stop_request()
        torch.set_num_threads(threads)
