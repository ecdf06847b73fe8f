"""Tiny CIFAR data sets in the exact layout and pickle format of the python archives
(cifar-10-batches-py/data_batch_1..5 + test_batch; cifar-100-python/train + test), for the
tests of suite/data/cifar.py and of the CIFAR tier end to end."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def _batch(rng: np.random.Generator, n: int, num_classes: int, label_key: str) -> dict:
    labels = [int(v) for v in rng.integers(0, num_classes, n)]
    labels[: min(n, num_classes)] = list(range(min(n, num_classes)))  # every class where n allows
    # keys are bytes, data an N x 3072 uint8 array, labels a list: what the archives hold
    return {b"batch_label": b"tiny", label_key.encode(): labels,
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"img{i}.png".encode() for i in range(n)]}


def _write(path: Path, entry: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(entry, f, protocol=2)


def write_cifar10(root: Path, per_batch: int = 8, test: int = 16, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    for i in range(1, 6):
        _write(folder / f"data_batch_{i}", _batch(rng, per_batch, 10, "labels"))
    _write(folder / "test_batch", _batch(rng, test, 10, "labels"))
    return folder


def write_cifar100(root: Path, train: int = 40, test: int = 16, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    for name, n in (("train", train), ("test", test)):
        entry = _batch(rng, n, 100, "fine_labels")
        entry[b"coarse_labels"] = [v // 5 for v in entry[b"fine_labels"]]
        _write(folder / name, entry)
    return folder
