"""ImageNet-1K as an ImageFolder tree, with timm's training and evaluation transforms.

Layout: ``<root>/imagenet/{train,val}/<class>/*.JPEG`` (the val split sorted into class
folders, as torchvision's and timm's scripts expect).
"""
from __future__ import annotations

from pathlib import Path

from suite.data import ClassificationData, missing_data, register_dataset

LAYOUT = "<root>/imagenet/{train,val}/<class>/<image>.JPEG"


def _present(root: Path) -> bool:
    return all((root / "imagenet" / split).is_dir() for split in ("train", "val"))


@register_dataset(
    "imagenet", task="classification", kind="external",
    description="ImageNet-1K (ILSVRC 2012), 1000 classes, ImageFolder tree with timm transforms",
    present=_present,
)
def load_imagenet(root: Path, *, model=None, image_size: int | None = None, augment: dict | None = None,
                  **_) -> ClassificationData:
    """Train/val ImageFolders; transforms from timm's data config for ``model`` (if given).

    augment: extra keyword arguments for timm's training ``create_transform`` (e.g.
    ``auto_augment``, ``re_prob``); mixup/cutmix are applied per batch by the task.
    """
    base = root / "imagenet"
    if not _present(root):
        raise missing_data("imagenet", [base / "train", base / "val"], LAYOUT)
    from timm.data import create_transform, resolve_data_config
    from torchvision.datasets import ImageFolder

    args = {"input_size": (3, image_size, image_size)} if image_size else {}
    config = resolve_data_config(args, model=model)
    train_tf = create_transform(**config, is_training=True, **(augment or {}))
    val_tf = create_transform(**config, is_training=False)
    train = ImageFolder(str(base / "train"), transform=train_tf)
    val = ImageFolder(str(base / "val"), transform=val_tf)
    return ClassificationData(
        train=train, val=val, num_classes=len(train.classes), in_chans=config["input_size"][0],
        image_size=config["input_size"][-1],
    )
