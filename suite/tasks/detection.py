"""Object detection with torchvision-style detectors, scored by pycocotools' COCOeval.

The model follows torchvision's detection convention: in train mode ``model(images,
targets)`` returns a dict of losses (summed here); in eval mode ``model(images)`` returns one
dict per image with ``boxes`` (xyxy), ``scores`` and ``labels``. Metrics: ``map`` is
AP@[.5:.95], ``map50`` AP@.5, both fractions in [0, 1] as COCOeval reports them (the report scales them
to percent beside the papers).
"""
from __future__ import annotations

import contextlib
import io

import torch
from torch import nn

from suite.tasks.loop import DistEnv, epoch_batches, iterate_dataset


def collate(batch):
    return tuple(zip(*batch))


class DetectionTask:
    metric_names = ("map", "map50")

    def __init__(self, data, recipe, seed: int, device: torch.device, dist_env: DistEnv):
        self.data, self.recipe, self.seed, self.device, self.dist = data, recipe, seed, device, dist_env
        self.steps_per_epoch = len(data.train) // recipe.batch_size

    def _to_device(self, images, targets):
        images = [im.to(self.device, non_blocking=True) for im in images]
        targets = [{k: (v.to(self.device) if torch.is_tensor(v) else v) for k, v in t.items()} for t in targets]
        return images, targets

    def iterate(self, epoch: int, start: int):
        batches = epoch_batches(len(self.data.train), self.recipe.batch_size, self.seed, epoch, self.dist)[start:]
        for images, targets in iterate_dataset(self.data.train, batches, collate_fn=collate,
                                               num_workers=self.recipe.num_workers, seed=self.seed, epoch=epoch):
            yield self._to_device(images, targets)

    def split(self, batch, parts: int):
        images, targets = batch
        size = -(-len(images) // parts)
        return [(images[i:i + size], targets[i:i + size]) for i in range(0, len(images), size)]

    def num_samples(self, batch) -> int:
        return len(batch[0])

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        images, targets = batch
        losses = model(list(images), list(targets))
        return sum(v.float() for v in losses.values())

    @torch.no_grad()
    def detections(self, model: nn.Module) -> list[dict]:
        """COCO result entries for this process's share of the validation images."""
        model.eval()
        n = len(self.data.val)
        share = [i for i in range(n) if i % self.dist.world_size == self.dist.rank]
        size = self.recipe.eval_batch_size or self.recipe.batch_size
        results = []
        for images, targets in iterate_dataset(self.data.val, [share[i:i + size] for i in range(0, len(share), size)],
                                               collate_fn=collate, num_workers=self.recipe.num_workers):
            outputs = model([im.to(self.device) for im in images])
            for target, out in zip(targets, outputs):
                boxes = out["boxes"].float().cpu()
                xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1)
                for box, score, label in zip(xywh.tolist(), out["scores"].float().cpu().tolist(),
                                             out["labels"].cpu().tolist()):
                    if 0 < label < len(self.data.label_to_category):
                        results.append({"image_id": int(target["image_id"]), "bbox": [round(v, 2) for v in box],
                                        "score": round(score, 5), "category_id": self.data.label_to_category[label]})
        return results

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        results = self.detections(model)
        if self.dist.active:
            import torch.distributed as dist

            gathered = [None] * self.dist.world_size
            dist.all_gather_object(gathered, results)
            results = [r for part in gathered for r in part]
        return coco_map(self.data.val_coco, results)


def coco_map(coco_gt, results: list[dict]) -> dict[str, float]:
    """COCOeval bbox AP@[.5:.95] and AP@.5 as fractions (0 when there is no detection)."""
    if not results:
        return {"map": 0.0, "map50": 0.0}
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    ap, ap50 = (max(0.0, float(v)) for v in evaluator.stats[:2])  # -1 means "no ground truth"
    return {"map": ap, "map50": ap50}


def build(cell, recipe, data_root, device, dist_env):
    from suite.architectures import ARCHITECTURES
    from suite.data import load
    from suite.errors import SuiteError
    from suite.tasks.models import create_model

    options = dict(recipe.data_options)
    needs_masks = cell.arch in ARCHITECTURES and ARCHITECTURES.get(cell.arch).info.get("needs_masks", False)
    if needs_masks:  # only then: decoding masks costs a boxes-only detector time and memory for nothing
        options["masks"] = True
    data = load(cell.dataset, data_root, **options)
    if needs_masks and not data.masks:
        raise SuiteError(f"architecture {cell.arch!r} trains on instance masks, which data set {cell.dataset!r} "
                         "does not give; accepted: coco (polygon/RLE segmentations), or a boxes-only detector "
                         "(retinanet_resnet50_fpn, retinanet_tiny) on this data set.")
    model = create_model(cell, recipe, num_classes=data.num_classes, in_chans=data.in_chans)
    return DetectionTask(data, recipe, cell.seed, device, dist_env), model
