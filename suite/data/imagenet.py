"""ImageNet-1K in the layouts users have on disk, with timm's training and evaluation transforms.

Accepted layouts under ``<root>/imagenet/`` (``LAYOUTS``):

- sorted: ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG`` (the val split sorted into
  class folders, as torchvision's and timm's scripts expect);
- Kaggle (``imagenet-object-localization-challenge``, unzipped as it comes):
  ``ILSVRC/Data/CLS-LOC/train/<wnid>/*.JPEG``, a flat ``ILSVRC/Data/CLS-LOC/val/*.JPEG``
  and ``LOC_val_solution.csv`` (the label of each val image); a flat ``val/`` beside
  ``train/`` with that CSV next to them works too.

Class indices are the sorted wnids of the *train* split, and every val image is labelled
through that list: ImageFolder on the val folder alone would re-index the classes it
happens to hold, so a val split missing one class would give every later class another
class's label. A val class unknown to train is refused. Images are read by PIL and
converted to RGB, so the CMYK and grayscale JPEGs (and the PNG named .JPEG) that
ImageNet's train split holds load like the rest.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from suite.data import ClassificationData, missing_data, register_dataset
from suite.errors import SuiteError

LAYOUT = "<root>/imagenet/{train,val}/<wnid>/<image>.JPEG"
LAYOUTS = (
    LAYOUT,
    "<root>/imagenet/{ILSVRC/Data/CLS-LOC/{train/<wnid>/,val/},LOC_val_solution.csv} (Kaggle's download)",
)
VAL_SOLUTION = "LOC_val_solution.csv"
DEFAULT_IMAGE_SIZE = 224  # timm's default when neither a model nor an image size is given
SORT_HINT = (
    f"put Kaggle's {VAL_SOLUTION} (ImageId,PredictionString: the wnid comes first) in <root>/imagenet/, "
    "or sort val/ into <wnid>/ folders (e.g. with the valprep.sh that pytorch/examples' imagenet README points to)"
)


@dataclass(frozen=True)
class Layout:
    """Where the two splits of one ImageNet copy are, and how val is labelled."""

    train: Path
    val: Path
    val_labels: Path | None  # LOC_val_solution.csv for a flat val folder, else None

    @property
    def val_is_sorted(self) -> bool:
        with os.scandir(self.val) as entries:  # no stat per entry: a flat val holds 50,000 files
            return any(e.is_dir() for e in entries)


def find_layout(root: Path) -> Layout | None:
    """The first accepted layout under ``root/imagenet`` with both split folders, or None."""
    base = root / "imagenet"
    for images in (base / "ILSVRC" / "Data" / "CLS-LOC", base):
        if (images / "train").is_dir() and (images / "val").is_dir():
            labels = next((p for p in (base / VAL_SOLUTION, images / VAL_SOLUTION) if p.is_file()), None)
            return Layout(images / "train", images / "val", labels)
    return None


def _present(root: Path) -> bool:
    """On disk and loadable: a flat val folder counts only with its label file."""
    layout = find_layout(root)
    return layout is not None and (layout.val_is_sorted or layout.val_labels is not None)


class ImageList:
    """A map-style dataset of ``(path, label)`` pairs read by torchvision's PIL loader (RGB)."""

    def __init__(self, samples: list[tuple[str, int]], classes: list[str], transform=None):
        self.samples, self.classes, self.transform = samples, classes, transform
        self.targets = [label for _, label in samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        from torchvision.datasets.folder import default_loader

        path, label = self.samples[index]
        image = default_loader(path)
        return (self.transform(image) if self.transform else image), label


def images_in(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, sorted (scandir: no extra stat per file,
    which matters for 1.28 million files on a network file system)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries
                      if e.is_file() and os.path.splitext(e.name)[1].lower() in IMG_EXTENSIONS)


def train_classes(train: Path) -> list[str]:
    """The train split's wnids, sorted (the class index of each is its position)."""
    classes = sorted(p.name for p in train.iterdir() if p.is_dir())
    if not classes:
        raise SuiteError(f"ImageNet train folder {str(train)!r} has no class folders; expected {LAYOUT}.")
    return classes


def sorted_samples(folder: Path, class_to_idx: dict[str, int], split: str) -> list[tuple[str, int]]:
    """Images of ``folder/<wnid>/`` labelled by ``class_to_idx`` (the train split's indices)."""
    loose = [p.name for p in images_in(folder)]
    if loose:
        raise SuiteError(f"ImageNet {split} folder {str(folder)!r} holds both class folders and loose images "
                         f"({loose[0]}, ...); expected one or the other.")
    wnids = sorted(p.name for p in folder.iterdir() if p.is_dir())
    unknown = [w for w in wnids if w not in class_to_idx]
    if unknown:
        raise SuiteError(
            f"ImageNet {split} class folder(s) {', '.join(unknown[:5])} in {str(folder)!r} are not accepted; "
            f"expected only the {len(class_to_idx)} classes of the train split."
        )
    samples = [(str(p), class_to_idx[w]) for w in wnids for p in images_in(folder / w)]
    if not samples:
        raise SuiteError(f"ImageNet {split} folder {str(folder)!r} holds no images; expected {LAYOUT}.")
    return samples


def csv_samples(folder: Path, solution: Path, class_to_idx: dict[str, int]) -> list[tuple[str, int]]:
    """Flat val images labelled by Kaggle's ``LOC_val_solution.csv`` (first wnid of each row)."""
    labels: dict[str, str] = {}
    with open(solution, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"ImageId", "PredictionString"} <= set(reader.fieldnames):
            raise SuiteError(f"ImageNet label file {str(solution)!r} has columns {reader.fieldnames}; "
                             "expected ImageId,PredictionString (Kaggle's LOC_val_solution.csv).")
        for row in reader:
            words = row["PredictionString"].split()
            if not words:
                raise SuiteError(f"ImageNet label file {str(solution)!r}: image {row['ImageId']!r} has no wnid; "
                                 "expected 'wnid x0 y0 x1 y1 ...'.")
            labels[row["ImageId"]] = words[0]
    unknown = sorted({w for w in labels.values() if w not in class_to_idx})
    if unknown:
        raise SuiteError(f"ImageNet val class(es) {', '.join(unknown[:5])} of {str(solution)!r} are not accepted; "
                         f"expected only the {len(class_to_idx)} classes of the train split.")
    images = images_in(folder)
    unlabelled = [p.name for p in images if p.stem not in labels]
    if unlabelled:
        raise SuiteError(f"ImageNet val image(s) {', '.join(unlabelled[:3])} have no row in {str(solution)!r}; "
                         "expected a label for every image of the flat val folder.")
    if len(images) != len(labels):
        missing = sorted(set(labels) - {p.stem for p in images})
        raise SuiteError(f"ImageNet val folder {str(folder)!r} lacks {len(missing)} image(s) that "
                         f"{str(solution)!r} lists ({', '.join(missing[:3])}, ...); expected all of them "
                         "(an interrupted unzip?).")
    return [(str(p), class_to_idx[labels[p.stem]]) for p in images]


def val_samples(layout: Layout, class_to_idx: dict[str, int]) -> list[tuple[str, int]]:
    if layout.val_is_sorted:
        return sorted_samples(layout.val, class_to_idx, "val")
    if layout.val_labels is None:
        raise SuiteError(f"ImageNet val folder {str(layout.val)!r} is flat (images, no class folders) and no "
                         f"{VAL_SOLUTION} was found beside it; {SORT_HINT}.")
    return csv_samples(layout.val, layout.val_labels, class_to_idx)


@register_dataset(
    "imagenet", task="classification", kind="external",
    description="ImageNet-1K (ILSVRC 2012), 1000 classes: class folders or Kaggle's layout, timm transforms",
    present=_present,
)
def load_imagenet(root: Path, *, model=None, image_size: int | None = None, augment: dict | None = None,
                  **_) -> ClassificationData:
    """Train/val datasets; transforms from timm's data config for ``model`` (if given).

    augment: extra keyword arguments for timm's training ``create_transform`` (e.g.
    ``auto_augment``, ``re_prob``); mixup/cutmix are applied per batch by the task.
    """
    layout = find_layout(root)
    if layout is None:
        base = root / "imagenet"
        raise missing_data("imagenet", [base / "train", base / "val"], " or ".join(LAYOUTS))
    from timm.data import create_transform, resolve_data_config

    if model is None and not image_size:
        image_size = DEFAULT_IMAGE_SIZE  # timm refuses to resolve a config from nothing
    args = {"input_size": (3, image_size, image_size)} if image_size else {}
    config = resolve_data_config(args, model=model)
    train_tf = create_transform(**config, is_training=True, **(augment or {}))
    val_tf = create_transform(**config, is_training=False)
    classes = train_classes(layout.train)
    class_to_idx = {w: i for i, w in enumerate(classes)}
    train = ImageList(sorted_samples(layout.train, class_to_idx, "train"), classes, train_tf)
    val = ImageList(val_samples(layout, class_to_idx), classes, val_tf)
    return ClassificationData(
        train=train, val=val, num_classes=len(classes), in_chans=config["input_size"][0],
        image_size=config["input_size"][-1],
    )
