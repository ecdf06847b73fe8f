"""COCO 2017 detection through pycocotools, as torchvision-detection style items.

Layout: ``<root>/coco/annotations/instances_{train,val}2017.json`` and
``<root>/coco/{train,val}2017/<image>.jpg``. Category ids (1..90 with gaps) are mapped to
contiguous labels 1..80; label 0 is background, as torchvision's detectors expect.

With ``masks=True`` (the detection task asks for it when the architecture segments, Mask
R-CNN) each training target also holds ``masks``: N x H x W uint8, one per box, from the
annotation's polygons or RLE through pycocotools' ``annToMask``. Boxes-only detectors never
pay for them, and validation targets never carry them (COCOeval reads the json itself).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from suite.data import DetectionData, missing_data, register_dataset
from suite.data.digits import coco_target, quiet_coco, trained_on
from suite.errors import SuiteError

LAYOUT = "<root>/coco/annotations/instances_{train,val}2017.json + <root>/coco/{train,val}2017/*.jpg"


def _paths(root: Path) -> dict[str, tuple[Path, Path]]:
    base = root / "coco"
    return {s: (base / "annotations" / f"instances_{s}2017.json", base / f"{s}2017") for s in ("train", "val")}


def _present(root: Path) -> bool:
    return all(ann.is_file() and images.is_dir() for ann, images in _paths(root).values())


class CocoDetection(Dataset):
    """Images read with PIL, targets from pycocotools; images without boxes are kept for val."""

    def __init__(self, image_dir: Path, coco, category_to_label: dict[int, int], train: bool,
                 masks: bool = False):
        self.image_dir = Path(image_dir)
        self.coco = coco
        self.category_to_label = category_to_label
        self.masks = masks
        self.train = train  # random horizontal flips (from the torch RNG, so resumes repeat them)
        ids = sorted(coco.getImgIds())
        if train:  # images with no usable box teach a detector nothing (torchvision's recipe drops them)
            ids = [i for i in ids if any(not a.get("iscrowd", 0) for a in coco.loadAnns(coco.getAnnIds(imgIds=[i])))]
        self.image_ids = ids

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int):
        from PIL import Image
        from torchvision.transforms.functional import pil_to_tensor

        image_id = self.image_ids[index]
        info = self.coco.loadImgs([image_id])[0]
        with Image.open(self.image_dir / info["file_name"]) as img:
            image = pil_to_tensor(img.convert("RGB")).to(torch.float32) / 255.0
        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=[image_id]))
        target = coco_target(anns, image_id, self.category_to_label)
        if self.masks:  # the same annotations as the boxes, in the same order (coco_target's filter)
            masks = [self.coco.annToMask(a) for a in filter(trained_on, anns)]  # polygons or RLE -> H x W
            empty = np.zeros((0, info["height"], info["width"]), np.uint8)
            target["masks"] = torch.from_numpy(np.stack(masks) if masks else empty)
        if self.train and torch.rand(()) < 0.5:  # the standard RetinaNet/Faster R-CNN augmentation
            image = image.flip(-1)
            boxes = target["boxes"]
            target["boxes"] = torch.stack([image.shape[-1] - boxes[:, 2], boxes[:, 1],
                                           image.shape[-1] - boxes[:, 0], boxes[:, 3]], dim=1)
            if "masks" in target:
                target["masks"] = target["masks"].flip(-1)
        # Resizing (boxes and masks alike) is the detector's own transform's, on the device.
        return image, target


@register_dataset(
    "coco", task="detection", kind="external",
    description="COCO 2017 detection, 80 categories, read with pycocotools",
    present=_present,
)
def load_coco(root: Path, masks: bool = False, **_) -> DetectionData:
    paths = _paths(root)
    if not _present(root):
        looked = [p for pair in paths.values() for p in pair]
        raise missing_data("coco", looked, LAYOUT)
    train_coco = quiet_coco(paths["train"][0])
    if masks:
        _check_segmentations(train_coco, paths["train"][0])
    val_coco = quiet_coco(paths["val"][0])
    categories = sorted(val_coco.getCatIds())
    category_to_label = {c: i + 1 for i, c in enumerate(categories)}
    return DetectionData(
        train=CocoDetection(paths["train"][1], train_coco, category_to_label, train=True, masks=masks),
        val=CocoDetection(paths["val"][1], val_coco, category_to_label, train=False),
        num_classes=len(categories) + 1, in_chans=3, val_coco=val_coco,
        label_to_category=[0] + categories, masks=masks,
    )


def _check_segmentations(coco, annotation_file: Path) -> None:
    """One clear error at load, not a failure in a loader worker hours later: every instance
    a mask-needing detector trains on must have a polygon or RLE segmentation."""
    missing = [a["id"] for a in coco.dataset.get("annotations", []) if trained_on(a) and not a.get("segmentation")]
    if missing:
        raise SuiteError(
            f"{annotation_file} has {len(missing)} non-crowd annotation(s) without a 'segmentation' "
            f"(ids {', '.join(map(str, missing[:5]))}{', ...' if len(missing) > 5 else ''}); a mask-needing "
            "architecture (maskrcnn_resnet50_fpn) accepts only polygon or RLE instance masks: use COCO's "
            "instances_*2017.json, or retinanet_resnet50_fpn for boxes only."
        )
