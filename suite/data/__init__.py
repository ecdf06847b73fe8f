"""Data sets by name: the large ones a user points the suite at, and embedded ones it builds.

``load(name, root=None, **options)`` returns one of three bundles, by task:
``ClassificationData`` (train/val datasets of ``(image, label)``), ``TokenData`` (uint16
token memmaps) or ``DetectionData`` (train/val datasets of ``(image, target)`` plus the
validation split as a pycocotools ``COCO`` for COCOeval). Each data module registers its
names in ``DATASETS`` on import.

Where data lives: ``data_root()`` is ``--data-root`` if given, else ``$SUITE_DATA``, else
``./data`` when that folder exists, else ``~/.cache/suite-data``. Embedded sets are built
there on first use and read back afterwards.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite.errors import SuiteError
from suite.registry import Registry

DATASETS = Registry("data set")

ENV_VAR = "SUITE_DATA"


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """The folder data sets are read from and embedded sets are cached in."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    local = Path("data")
    if local.is_dir():
        return local.resolve()
    return Path("~/.cache/suite-data").expanduser()


def missing_data(name: str, looked_at: list[Path], layout: str, extra: str = "") -> SuiteError:
    """The one error for a data set that is not on disk: where we looked and how to fix it."""
    places = ", ".join(str(p.resolve()) for p in looked_at)
    return SuiteError(
        f"data set {name!r} was not found (looked for {places}); put it under a data root "
        f"laid out as {layout} and point the suite at that root with ${ENV_VAR}=DIR or "
        f"--data-root DIR{extra}."
    )


def register_dataset(name: str, *, task: str, kind: str, description: str, **info):
    """Register a loader ``factory(root: Path, **options) -> bundle``.

    task: "classification" | "lm" | "detection"; kind: "embedded" (built by the suite) or
    "external" (the user provides it).
    """
    return DATASETS.register(name, task=task, kind=kind, description=description, **info)


@dataclass
class ClassificationData:
    train: Any  # torch Dataset of (image tensor CxHxW, int label)
    val: Any
    num_classes: int
    in_chans: int
    image_size: int


@dataclass
class TokenData:
    train: Any  # np.memmap uint16 of token ids
    val: Any
    vocab_size: int
    meta: dict = field(default_factory=dict)


@dataclass
class DetectionData:
    train: Any  # torch Dataset of (image tensor CxHxW, {"boxes": xyxy, "labels", "image_id"})
    val: Any
    num_classes: int  # categories + 1: label 0 is background (torchvision's convention)
    in_chans: int
    val_coco: Any  # pycocotools.coco.COCO of the validation split
    label_to_category: list[int]  # contiguous label -> COCO category id (index 0 unused)
    masks: bool = False  # training targets also hold "masks" (N x H x W uint8), for Mask R-CNN


def load(name: str, root: str | os.PathLike | None = None, **options):
    """Load data set ``name`` from the data root ``root`` (default ``data_root()``), building
    embedded sets on first use; ``options`` go to the set's loader (e.g. ``image_size``)."""
    entry = DATASETS.get(name)
    return entry.factory(data_root(root), **options)


def task_of(name: str) -> str:
    return DATASETS.get(name).info["task"]


def catalog_rows(root: str | os.PathLike | None = None) -> list[dict]:
    """Rows for ``suite list datasets [--data-root DIR]``."""
    root = data_root(root)
    rows = []
    for entry in DATASETS:
        present = entry.info.get("present")
        rows.append({
            "name": entry.name,
            "task": entry.info["task"],
            "kind": entry.info["kind"],
            "on disk": ("yes" if present(root) else "no") if present else "",
            "description": entry.info["description"],
        })
    return rows


from suite.data import digits, imagenet, coco, text  # noqa: E402,F401  (register names)
from suite.data import cifar  # noqa: E402,F401
