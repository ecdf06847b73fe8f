"""Tiny data sets in the exact formats users download, built by tests.

- ``ilsvrc_tree``: ImageNet's sorted layout, ``imagenet/{train,val}/<wnid>/`` with real
  wnids and ILSVRC file names; the train split holds, as the real one does, a CMYK JPEG, a
  grayscale JPEG and a PNG named .JPEG.
- ``kaggle_tree``: Kaggle's ``imagenet-object-localization-challenge`` as unzipped:
  ``ILSVRC/Data/CLS-LOC/{train/<wnid>/,val/}`` (val flat) and ``LOC_val_solution.csv``.
- ``nanogpt_bins``: OpenWebText as nanoGPT's ``data/openwebtext/prepare.py`` writes it:
  ``train.bin`` and ``val.bin`` of uint16 GPT-2 BPE ids, each document followed by
  end-of-text (50256), and no meta file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

# tench, goldfish, great white shark, tiger shark, hammerhead
WNIDS = ("n01440764", "n01443537", "n01484850", "n01491361", "n01494475")
GPT2_EOT = 50256


def _image(rng, size=(40, 48)):
    from PIL import Image

    return Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8))


def _write_train(train: Path, wnids, per_class: int, rng) -> None:
    for wnid in wnids:
        (train / wnid).mkdir(parents=True)
        for i in range(per_class):
            _image(rng).save(train / wnid / f"{wnid}_{1000 + i}.JPEG", format="JPEG")
    first = train / wnids[0]
    # the oddities of the real train split: CMYK, grayscale, and a PNG with a .JPEG name
    _image(rng).convert("CMYK").save(first / f"{wnids[0]}_9001.JPEG", format="JPEG")
    _image(rng).convert("L").save(first / f"{wnids[0]}_9002.JPEG", format="JPEG")
    _image(rng).save(first / f"{wnids[0]}_9003.JPEG", format="PNG")


def val_name(i: int) -> str:
    return f"ILSVRC2012_val_{i:08d}"


def ilsvrc_tree(root: Path, wnids=WNIDS[:3], per_class: int = 4, val_per_class: int = 2,
                val_wnids=None, seed: int = 0) -> dict[str, int]:
    """ImageNet's sorted layout under ``root/imagenet``; returns {val file name: wnid index}.

    val_wnids: the classes the val split holds (default all); one missing there is the
    case ImageFolder mislabels.
    """
    rng = np.random.default_rng(seed)
    base = root / "imagenet"
    _write_train(base / "train", wnids, per_class, rng)
    labels, n = {}, 0
    for wnid in (val_wnids if val_wnids is not None else wnids):
        (base / "val" / wnid).mkdir(parents=True)
        for _ in range(val_per_class):
            n += 1
            _image(rng).save(base / "val" / wnid / f"{val_name(n)}.JPEG", format="JPEG")
            labels[f"{val_name(n)}.JPEG"] = sorted(wnids).index(wnid) if wnid in wnids else -1
    return labels


def kaggle_tree(root: Path, wnids=WNIDS[:3], per_class: int = 3, val_images: int = 6, seed: int = 0) -> dict[str, int]:
    """Kaggle's ImageNet download under ``root/imagenet``; returns {val file name: wnid index}."""
    rng = np.random.default_rng(seed)
    base = root / "imagenet"
    images = base / "ILSVRC" / "Data" / "CLS-LOC"
    _write_train(images / "train", wnids, per_class, rng)
    (images / "val").mkdir(parents=True)
    (images / "test").mkdir()
    rows, labels = ["ImageId,PredictionString"], {}
    for i in range(1, val_images + 1):
        wnid = wnids[(i * 7) % len(wnids)]  # not in file-name order: the labels must come from the CSV
        _image(rng).save(images / "val" / f"{val_name(i)}.JPEG", format="JPEG")
        rows.append(f"{val_name(i)},{wnid} 10 12 30 38 {wnid} 2 3 20 21 ")
        labels[f"{val_name(i)}.JPEG"] = sorted(wnids).index(wnid)
    (base / "LOC_val_solution.csv").write_text("\n".join(rows) + "\n")
    (base / "LOC_synset_mapping.txt").write_text("".join(f"{w} class {w}\n" for w in wnids))
    (base / "LOC_sample_submission.csv").write_text("ImageId,PredictionString\n")
    return labels


def nanogpt_bins(folder: Path, train_docs: int = 60, val_docs: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """train.bin/val.bin as nanoGPT's prepare.py writes them (np.memmap uint16, 'w+')."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for split, docs in (("train", train_docs), ("val", val_docs)):
        ids = np.concatenate([np.append(rng.integers(0, GPT2_EOT, rng.integers(20, 80)), GPT2_EOT)
                              for _ in range(docs)]).astype(np.uint16)
        arr = np.memmap(folder / f"{split}.bin", dtype=np.uint16, mode="w+", shape=(len(ids),))
        arr[:] = ids
        arr.flush()
        out.append(ids)
    return out[0], out[1]
