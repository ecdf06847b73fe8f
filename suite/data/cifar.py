"""CIFAR-10 and CIFAR-100 from the python pickle batches users already have.

Layout (what the archives from https://www.cs.toronto.edu/~kriz/cifar.html unpack to,
and what torchvision's ``CIFAR10``/``CIFAR100`` read)::

    <root>/cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch
    <root>/cifar-100-python/train, test

Each file is a pickled dict with ``b"data"`` (N x 3072 uint8, channel-major 3 x 32 x 32)
and ``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` (CIFAR-100, the 100-class task the
papers report). The files are read here rather than through torchvision, whose loader
insists on the archives' md5 sums and so rejects the tiny files the tests build.

Training images get the standard augmentation of the 2016 CIFAR papers: pad by 4 pixels,
take a random 32 x 32 crop, flip horizontally with probability 1/2. Both splits are
normalised per channel with the training split's mean and std ("meanstd", as in
fb.resnet.torch). Normalisation comes before padding, as in fb.resnet.torch, so zero
padding is padding with the channel mean; ``pad_mode="reflect"`` pads by reflection, as
the Wide ResNet authors' script does. The test split is the validation split: the papers
report test accuracy.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from suite.data import ClassificationData, missing_data, register_dataset
from suite.errors import SuiteError, bad_value

PAD = 4
SIZE = 32
PAD_MODES = ("zero", "reflect")


@dataclass(frozen=True)
class Layout:
    folder: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    label_key: bytes
    num_classes: int


LAYOUTS = {
    "cifar10": Layout("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",),
                      b"labels", 10),
    "cifar100": Layout("cifar-100-python", ("train",), ("test",), b"fine_labels", 100),
}


def _files(layout: Layout, root: Path) -> list[Path]:
    base = root / layout.folder
    return [base / name for name in (*layout.train, *layout.test)]


def read_batches(paths: list[Path], label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images (N x 3 x 32 x 32 uint8) and labels (N int64) of the pickle batches ``paths``."""
    images, labels = [], []
    for path in paths:
        try:
            with open(path, "rb") as f:
                entry = pickle.load(f, encoding="bytes")
            data = np.asarray(entry[b"data"], dtype=np.uint8)
            label = np.asarray(entry[label_key], dtype=np.int64)
        except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
            raise SuiteError(f"CIFAR file {str(path)!r} is not accepted ({type(exc).__name__}: {exc}); expected a "
                             f"pickled dict with b'data' (N x 3072 uint8) and {label_key!r}, as in the "
                             "python version of the archive.") from None
        if data.ndim != 2 or data.shape[1] != 3 * SIZE * SIZE or len(label) != len(data):
            raise SuiteError(f"CIFAR file {str(path)!r} holds data of shape {data.shape} with {len(label)} labels; "
                             "expected N x 3072 pixels and N labels.")
        images.append(data.reshape(-1, 3, SIZE, SIZE))
        labels.append(label)
    return np.concatenate(images), np.concatenate(labels)


class CifarSplit(Dataset):
    """Images held in memory as uint8 (150 MB for CIFAR's training split, shared with loader
    workers), normalised per item; ``augment`` draws a padded random crop and a flip per item."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean: torch.Tensor, std: torch.Tensor,
                 augment: bool, pad_mode: str = "zero"):
        self.images = torch.from_numpy(images)
        self.labels = torch.from_numpy(labels)
        self.mean, self.std = mean[:, None, None], std[:, None, None]
        self.augment = augment
        self.pad_mode = "constant" if pad_mode == "zero" else "reflect"

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = (self.images[index].float() / 255 - self.mean) / self.std
        if self.augment:
            # torch's global generator: seeded per cell, and per worker by DataLoader
            padded = F.pad(image[None], (PAD, PAD, PAD, PAD), mode=self.pad_mode)[0]
            top, left = (int(v) for v in torch.randint(0, 2 * PAD + 1, (2,)))
            image = padded[:, top:top + SIZE, left:left + SIZE]
            if bool(torch.rand(()) < 0.5):
                image = image.flip(-1)
        return image, self.labels[index]


def channel_stats(images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images on the [0, 1] scale, one channel at a time
    (a float copy of all of CIFAR's training pixels would take 600 MB)."""
    mean, std = [], []
    for c in range(images.shape[1]):
        channel = torch.from_numpy(images[:, c]).double().div_(255)
        mean.append(channel.mean())
        std.append(channel.std())
    return torch.stack(mean).float(), torch.stack(std).float()


def _load(name: str, root: Path, pad_mode: str = "zero", augment: bool = True, **_) -> ClassificationData:
    layout = LAYOUTS[name]
    if pad_mode not in PAD_MODES:
        raise bad_value(f"{name} pad_mode", pad_mode, f"one of {', '.join(PAD_MODES)}")
    files = _files(layout, root)
    absent = [p for p in files if not p.is_file()]
    if absent:
        raise missing_data(
            name, [root / layout.folder], f"<root>/{layout.folder}/{{{','.join((*layout.train, *layout.test))}}}",
            f" (missing: {', '.join(p.name for p in absent)}; the python version of the archive "
            "from https://www.cs.toronto.edu/~kriz/cifar.html unpacks to this folder)",
        )
    train_x, train_y = read_batches(files[:len(layout.train)], layout.label_key)
    test_x, test_y = read_batches(files[len(layout.train):], layout.label_key)
    for split, labels in (("training", train_y), ("test", test_y)):
        if labels.size and (labels.min() < 0 or labels.max() >= layout.num_classes):
            raise SuiteError(f"{name} {split} labels span {labels.min()}..{labels.max()}; expected "
                             f"0..{layout.num_classes - 1}.")
    mean, std = channel_stats(train_x)
    return ClassificationData(
        train=CifarSplit(train_x, train_y, mean, std, augment=augment, pad_mode=pad_mode),
        val=CifarSplit(test_x, test_y, mean, std, augment=False),
        num_classes=layout.num_classes, in_chans=3, image_size=SIZE,
    )


def _register(name: str, description: str) -> None:
    layout = LAYOUTS[name]

    @register_dataset(name, task="classification", kind="external", description=description,
                      present=lambda root: all(p.is_file() for p in _files(layout, root)))
    def load(root: Path, **options) -> ClassificationData:
        return _load(name, root, **options)


_register("cifar10", "CIFAR-10, 10 classes, 50k train / 10k test 32x32, python pickle batches, crop+flip")
_register("cifar100", "CIFAR-100 (fine labels), 100 classes, 50k train / 10k test 32x32, python pickle batches, crop+flip")
