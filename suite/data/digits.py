"""Embedded image sets built from scikit-learn's handwritten digits (1797 8x8 images).

``digits``: classification, a fixed train/val split drawn from a seeded permutation,
normalised with the training split's mean and std, optionally upsampled.

``digits-detection``: canvases (64x64 by default) with 1-3 digits pasted at random scales
and places, never overlapping; boxes are the tight box of each digit's ink. The set is
generated deterministically from a seed and written once under the data root as real
COCO files (``instances_{train,val}.json`` + ``images_{train,val}.npy``), so pycocotools'
COCOeval scores it exactly as it scores COCO.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

from suite.data import ClassificationData, DetectionData, register_dataset
from suite.data.storage import atomic_write_bytes, atomic_write_text

VAL_FRACTION = 0.2
DETECTION_VERSION = "v1"  # bump when the generator changes, so stale caches are not read


def _digits_split(split_seed: int = 0):
    """(train_x, train_y, val_x, val_y) as float32 arrays in [0, 1] of shape (n, 8, 8)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.float32) / 16.0
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(split_seed).permutation(len(labels))
    n_val = int(round(len(labels) * VAL_FRACTION))
    val, train = order[:n_val], order[n_val:]
    return images[train], labels[train], images[val], labels[val]


@register_dataset(
    "digits", task="classification", kind="embedded",
    description="scikit-learn handwritten digits, 10 classes, 1438 train / 359 val 8x8 images",
    present=lambda root: True,
)
def load_digits_classification(root: Path, *, image_size: int = 8, split_seed: int = 0, **_) -> ClassificationData:
    train_x, train_y, val_x, val_y = _digits_split(split_seed)
    mean, std = float(train_x.mean()), float(train_x.std())

    def tensors(x, y):
        t = torch.from_numpy((x - mean) / std).unsqueeze(1)  # N x 1 x 8 x 8
        if image_size != 8:
            t = F.interpolate(t, size=(image_size, image_size), mode="bilinear", align_corners=False)
        return TensorDataset(t.contiguous(), torch.from_numpy(y))

    return ClassificationData(
        train=tensors(train_x, train_y), val=tensors(val_x, val_y),
        num_classes=10, in_chans=1, image_size=image_size,
    )


# ---------------------------------------------------------------------------- detection
def _ink_box(patch: np.ndarray, threshold: float = 0.2) -> tuple[int, int, int, int] | None:
    """Tight (x0, y0, x1, y1) box (exclusive ends) of the pixels above ``threshold``."""
    ys, xs = np.nonzero(patch > threshold)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _render_split(images, labels, n_canvases, canvas, rng):
    """Paste 1-3 digits per canvas; return (canvases uint8 N x H x W, per-canvas annotations)."""
    out = np.zeros((n_canvases, canvas, canvas), dtype=np.uint8)
    annotations = []
    for i in range(n_canvases):
        placed: list[tuple[int, int, int, int]] = []
        anns = []
        for _ in range(int(rng.integers(1, 4))):
            k = int(rng.integers(len(labels)))
            size = int(rng.integers(canvas // 5, canvas // 3 + 1))
            digit = F.interpolate(
                torch.from_numpy(images[k])[None, None], size=(size, size), mode="bilinear",
                align_corners=False,
            )[0, 0].clamp(0, 1).numpy()
            for _attempt in range(20):
                x, y = (int(v) for v in rng.integers(0, canvas - size + 1, size=2))
                if all(x + size <= a or a + c <= x or y + size <= b or b + d <= y for a, b, c, d in placed):
                    break
            else:
                continue  # no free place on this canvas: paste fewer digits
            box = _ink_box(digit)
            if box is None:
                continue
            placed.append((x, y, size, size))
            out[i, y:y + size, x:x + size] = np.maximum(out[i, y:y + size, x:x + size], (digit * 255).astype(np.uint8))
            x0, y0, x1, y1 = box
            anns.append({"bbox": [x + x0, y + y0, x1 - x0, y1 - y0], "label": int(labels[k])})
        annotations.append(anns)
    return out, annotations


def _coco_json(annotations, canvas: int) -> dict:
    images, anns = [], []
    for i, per_image in enumerate(annotations):
        images.append({"id": i + 1, "width": canvas, "height": canvas, "file_name": f"{i + 1:06d}.png"})
        for a in per_image:
            x, y, w, h = a["bbox"]
            anns.append({
                "id": len(anns) + 1, "image_id": i + 1, "category_id": a["label"] + 1,
                "bbox": [float(x), float(y), float(w), float(h)], "area": float(w * h), "iscrowd": 0,
            })
    categories = [{"id": d + 1, "name": str(d), "supercategory": "digit"} for d in range(10)]
    return {"images": images, "annotations": anns, "categories": categories}


def build_digits_detection(folder: Path, *, canvas: int, n_train: int, n_val: int, seed: int) -> None:
    """Generate the set into ``folder`` (atomic per file; a finished build has meta.json)."""
    train_x, train_y, val_x, val_y = _digits_split(0)
    rng = np.random.default_rng(seed)
    for split, (imgs, labs, n) in {"train": (train_x, train_y, n_train), "val": (val_x, val_y, n_val)}.items():
        pixels, annotations = _render_split(imgs, labs, n, canvas, rng)
        buf = _npy_bytes(pixels)
        atomic_write_bytes(folder / f"images_{split}.npy", buf)
        atomic_write_text(folder / f"instances_{split}.json", json.dumps(_coco_json(annotations, canvas)))
    meta = {"canvas": canvas, "n_train": n_train, "n_val": n_val, "seed": seed, "version": DETECTION_VERSION}
    atomic_write_text(folder / "meta.json", json.dumps(meta, indent=1))


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


class CocoArrayDetection(Dataset):
    """Images held in one array, annotations from a COCO object; torchvision-detection items."""

    def __init__(self, pixels: np.ndarray, coco, mean: float = 0.0, std: float = 1.0):
        self.pixels = pixels
        self.coco = coco
        self.image_ids = sorted(coco.getImgIds())
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int):
        image_id = self.image_ids[index]
        image = torch.from_numpy(self.pixels[image_id - 1].astype(np.float32) / 255.0)[None]
        image = (image - self.mean) / self.std
        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=[image_id]))
        return image, coco_target(anns, image_id, {c: c for c in range(1, 11)})


def trained_on(ann: dict) -> bool:
    """Whether an annotation is a training instance: crowds and empty boxes are dropped."""
    _, _, w, h = ann["bbox"]
    return not ann.get("iscrowd", 0) and w > 0 and h > 0


def coco_target(anns: list[dict], image_id: int, category_to_label: dict[int, int]) -> dict:
    """COCO annotations -> torchvision target: xyxy float boxes, int64 labels (crowds dropped)."""
    boxes, labels = [], []
    for a in filter(trained_on, anns):
        x, y, w, h = a["bbox"]
        boxes.append([x, y, x + w, y + h])
        labels.append(category_to_label[a["category_id"]])
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "image_id": image_id,
    }


def quiet_coco(annotation_file: str | Path):
    """pycocotools.COCO without its progress prints."""
    import contextlib
    import io

    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(annotation_file))


@register_dataset(
    "digits-detection", task="detection", kind="embedded",
    description="1-3 scikit-learn digits pasted on 64x64 canvases, 10 categories, COCO format",
    present=lambda root: True,
)
def load_digits_detection(root: Path, *, canvas: int = 64, n_train: int = 1000, n_val: int = 200,
                          seed: int = 0, **_) -> DetectionData:
    folder = root / "digits-detection" / f"{DETECTION_VERSION}-c{canvas}-n{n_train}-{n_val}-s{seed}"
    if not (folder / "meta.json").exists():
        build_digits_detection(folder, canvas=canvas, n_train=n_train, n_val=n_val, seed=seed)
    train_coco = quiet_coco(folder / "instances_train.json")
    val_coco = quiet_coco(folder / "instances_val.json")
    train_pixels = np.load(folder / "images_train.npy")
    mean = float(train_pixels.mean()) / 255.0
    std = float(train_pixels.std()) / 255.0
    return DetectionData(
        train=CocoArrayDetection(train_pixels, train_coco, mean, std),
        val=CocoArrayDetection(np.load(folder / "images_val.npy"), val_coco, mean, std),
        num_classes=11, in_chans=1, val_coco=val_coco, label_to_category=list(range(11)),
    )
