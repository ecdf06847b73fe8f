"""Image classification: cross-entropy (label smoothing, timm's Mixup/CutMix), top-1/top-5.

Accuracies are fractions in [0, 1] (the report scales them to percent beside the papers).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from suite.tasks.loop import DistEnv, all_reduce_sum, epoch_batches, iterate_dataset


class ClassificationTask:
    metric_names = ("top1", "top5", "loss")

    def __init__(self, data, recipe, seed: int, device: torch.device, dist_env: DistEnv):
        self.data, self.recipe, self.seed, self.device, self.dist = data, recipe, seed, device, dist_env
        self.steps_per_epoch = len(data.train) // recipe.batch_size
        self.mixup = None
        if recipe.mixup or recipe.cutmix:
            from timm.data import Mixup

            self.mixup = Mixup(mixup_alpha=recipe.mixup, cutmix_alpha=recipe.cutmix,
                               label_smoothing=recipe.label_smoothing, num_classes=data.num_classes)

    def iterate(self, epoch: int, start: int):
        batches = epoch_batches(len(self.data.train), self.recipe.batch_size, self.seed, epoch, self.dist)[start:]
        for images, labels in iterate_dataset(self.data.train, batches, num_workers=self.recipe.num_workers,
                                              seed=self.seed, epoch=epoch, pin_memory=self.device.type == "cuda"):
            yield images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)

    def split(self, batch, parts: int):
        images, labels = batch
        return list(zip(images.chunk(parts), labels.chunk(parts)))

    def num_samples(self, batch) -> int:
        return int(batch[1].shape[0])

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        images, labels = batch
        if self.mixup is not None:
            from timm.loss import SoftTargetCrossEntropy

            images, soft = self.mixup(images, labels)
            return SoftTargetCrossEntropy()(model(images).float(), soft)
        return F.cross_entropy(model(images).float(), labels, label_smoothing=self.recipe.label_smoothing)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        model.eval()
        n = len(self.data.val)
        share = [i for i in range(n) if i % self.dist.world_size == self.dist.rank]
        size = self.recipe.eval_batch_size or self.recipe.batch_size
        batches = [share[i:i + size] for i in range(0, len(share), size)]
        correct1 = correct5 = loss_sum = count = 0.0
        for images, labels in iterate_dataset(self.data.val, batches, num_workers=self.recipe.num_workers):
            images, labels = images.to(self.device), labels.to(self.device)
            logits = model(images).float()
            loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices
            hits = top == labels[:, None]
            correct1 += float(hits[:, 0].sum())
            correct5 += float(hits.any(dim=1).sum())
            count += labels.shape[0]
        correct1, correct5, loss_sum, count = all_reduce_sum([correct1, correct5, loss_sum, count], self.dist, self.device)
        return {"top1": correct1 / count, "top5": correct5 / count, "loss": loss_sum / count}


def build(cell, recipe, data_root, device, dist_env):
    from suite.data import load
    from suite.tasks.models import create_model

    options = dict(recipe.data_options)
    if recipe.image_size:
        options.setdefault("image_size", recipe.image_size)
    data = load(cell.dataset, data_root, **options)
    model = create_model(cell, recipe, num_classes=data.num_classes, in_chans=data.in_chans)
    return ClassificationTask(data, recipe, cell.seed, device, dist_env), model
