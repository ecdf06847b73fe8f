"""Data sets: embedded sets build deterministically, external sets fail clearly when
missing and load when laid out as documented, token memmaps round-trip."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from suite import data
from suite.data import text
from suite.errors import SuiteError


def test_digits_split_is_deterministic_with_the_documented_shapes(tmp_path):
    a = data.load("digits", tmp_path)
    b = data.load("digits", tmp_path)
    assert (len(a.train), len(a.val)) == (1438, 359)  # 1797 images, 20% held out
    assert a.num_classes == 10 and a.in_chans == 1
    x, y = a.train[0]
    assert x.shape == (1, 8, 8) and 0 <= int(y) < 10
    assert torch.equal(a.train.tensors[0], b.train.tensors[0]) and torch.equal(a.val.tensors[1], b.val.tensors[1])
    assert set(a.val.tensors[1].tolist()) == set(range(10))
    assert abs(float(a.train.tensors[0].mean())) < 1e-4  # normalised with the training split's statistics
    other = data.load("digits", tmp_path, split_seed=1)
    assert not torch.equal(other.val.tensors[1], a.val.tensors[1])
    assert data.load("digits", tmp_path, image_size=16).train[0][0].shape == (1, 16, 16)


def test_digits_detection_is_valid_deterministic_coco(tmp_path):
    from pycocotools.cocoeval import COCOeval

    from suite.tasks.detection import coco_map

    a = data.load("digits-detection", tmp_path / "a", n_train=40, n_val=20)
    b = data.load("digits-detection", tmp_path / "b", n_train=40, n_val=20)
    files = sorted((tmp_path / "a" / "digits-detection").rglob("*.json"))
    assert [f.name for f in files] == ["instances_train.json", "instances_val.json", "meta.json"]
    for f in files:
        twin = tmp_path / "b" / f.relative_to(tmp_path / "a")
        assert f.read_bytes() == twin.read_bytes()
    image, target = a.train[3]
    assert image.shape == (1, 64, 64)
    assert 1 <= len(target["boxes"]) <= 3 and target["boxes"].shape[1] == 4
    assert (target["boxes"][:, 2:] > target["boxes"][:, :2]).all() and (target["boxes"] <= 64).all()
    assert ((1 <= target["labels"]) & (target["labels"] <= 10)).all()
    assert torch.equal(image, b.train[3][0])
    # COCOeval of the ground truth against itself is perfect.
    gt = a.val_coco
    results = [{"image_id": ann["image_id"], "category_id": ann["category_id"], "bbox": ann["bbox"], "score": 1.0}
               for ann in gt.dataset["annotations"]]
    assert coco_map(gt, results) == {"map": pytest.approx(1.0), "map50": pytest.approx(1.0)}
    assert coco_map(gt, []) == {"map": 0.0, "map50": 0.0}
    assert isinstance(COCOeval(gt, gt.loadRes(results), "bbox"), COCOeval)


@pytest.mark.parametrize("name, expected", [
    ("imagenet", "imagenet/train"), ("coco", "instances_val2017.json"), ("openwebtext", "openwebtext/train.bin"),
])
def test_missing_external_data_names_the_path_and_how_to_point_at_it(tmp_path, name, expected):
    with pytest.raises(SuiteError) as info:
        data.load(name, tmp_path)
    message = str(info.value)
    assert str(tmp_path.resolve()) in message and expected in message
    assert "SUITE_DATA" in message and "--data-root" in message


def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("SUITE_DATA", str(tmp_path / "env"))
    assert data.data_root(tmp_path / "flag") == tmp_path / "flag"
    assert data.data_root() == tmp_path / "env"
    monkeypatch.delenv("SUITE_DATA")
    monkeypatch.chdir(tmp_path)
    assert data.data_root().name == "suite-data"
    (tmp_path / "data").mkdir()
    assert data.data_root() == (tmp_path / "data").resolve()


def test_fake_imagenet_folder_loads_with_timm_transforms(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("n01", "n02", "n03"):
            folder = tmp_path / "imagenet" / split / cls
            folder.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    bundle = data.load("imagenet", tmp_path, image_size=32)
    assert bundle.num_classes == 3 and len(bundle.train) == 6 and len(bundle.val) == 6
    x, y = bundle.train[0]
    assert x.shape == (3, 32, 32) and y == 0
    assert bundle.val[5][0].shape == (3, 32, 32) and bundle.val[5][1] == 2


def test_fake_coco_set_loads_with_contiguous_labels(tmp_path):
    from PIL import Image

    base = tmp_path / "coco"
    for split in ("train", "val"):
        (base / f"{split}2017").mkdir(parents=True)
        for i in (1, 2):
            Image.new("RGB", (32, 24), (i * 40, 0, 0)).save(base / f"{split}2017" / f"{i:012d}.jpg")
        coco = {
            "images": [{"id": i, "width": 32, "height": 24, "file_name": f"{i:012d}.jpg"} for i in (1, 2)],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 18, "bbox": [2, 3, 10, 5], "area": 50, "iscrowd": 0},
                {"id": 2, "image_id": 1, "category_id": 90, "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0},
                {"id": 3, "image_id": 2, "category_id": 18, "bbox": [0, 0, 8, 8], "area": 64, "iscrowd": 1},
            ],
            "categories": [{"id": 18, "name": "dog"}, {"id": 90, "name": "toothbrush"}],
        }
        (base / "annotations").mkdir(exist_ok=True)
        (base / "annotations" / f"instances_{split}2017.json").write_text(json.dumps(coco))
    bundle = data.load("coco", tmp_path)
    assert bundle.num_classes == 3 and bundle.label_to_category == [0, 18, 90]
    assert len(bundle.train) == 1 and len(bundle.val) == 2  # a crowd-only image teaches nothing
    image, target = bundle.val[0]
    assert image.shape == (3, 24, 32)
    assert target["boxes"].tolist() == [[2, 3, 12, 8], [1, 1, 5, 5]] and target["labels"].tolist() == [1, 2]
    assert bundle.val[1][1]["boxes"].shape == (0, 4)
    # training images are flipped half of the time, boxes with them
    seen = {tuple(map(tuple, bundle.train[0][1]["boxes"].tolist())) for _ in range(20)}
    assert seen == {((2, 3, 12, 8), (1, 1, 5, 5)), ((20, 3, 30, 8), (27, 1, 31, 5))}


def _text_folder(tmp_path, n=40):
    src = tmp_path / "src"
    src.mkdir()
    docs = {}
    for i in range(n):
        docs[f"doc{i:02d}.txt"] = f"document {i}: héllo wörld " * (i + 1)
        (src / f"doc{i:02d}.txt").write_text(docs[f"doc{i:02d}.txt"], encoding="utf-8")
    return src, docs


def test_text_prepare_writes_memmaps_that_decode_back(tmp_path):
    src, docs = _text_folder(tmp_path)
    meta = text.prepare_text(tmp_path / "out", src, tokenizer="bytes")
    bundle = text.read_token_bins(tmp_path / "out")
    assert meta["tokenizer"] == "bytes" and bundle.vocab_size == 256
    assert bundle.train.dtype == np.uint16 and len(bundle.train) == meta["train_tokens"] > 0 and len(bundle.val) > 0
    tok = text.get_tokenizer("bytes")
    decoded = []
    for split in (bundle.train, bundle.val):
        ids = np.asarray(split).tolist()
        cut = [i for i, t in enumerate(ids) if t == tok.eot]
        starts = [0] + [c + 1 for c in cut[:-1]]
        decoded += [tok.decode(ids[s:e]) for s, e in zip(starts, cut)]
    assert sorted(decoded) == sorted(docs.values())


def test_gpt2_tokenizer_offline_falls_back_to_bytes_with_a_notice(tmp_path, monkeypatch):
    import tiktoken

    def offline(name):
        raise ConnectionError("no network")

    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    src, _ = _text_folder(tmp_path)
    meta = text.prepare_text(tmp_path / "out", src, tokenizer="gpt2")
    assert meta["tokenizer"] == "bytes" and meta["vocab_size"] == 256
    assert "fell back" in json.loads((tmp_path / "out" / "meta.json").read_text())["notice"]


def test_gpt2_tokenizer_round_trips_when_tiktoken_has_its_files(monkeypatch):
    class FakeEncoding:  # stands in for tiktoken's GPT-2 encoding (its files cannot be downloaded here)
        n_vocab, eot_token = 50257, 50256

        def encode_ordinary(self, s):
            return [ord(c) for c in s]

        def decode(self, ids):
            return "".join(map(chr, ids))

    import tiktoken

    monkeypatch.setattr(tiktoken, "get_encoding", lambda name: FakeEncoding())
    tok = text.get_tokenizer("gpt2")
    assert (tok.name, tok.vocab_size, tok.eot) == ("gpt2", 50257, 50256)
    assert tok.decode(tok.encode("print('x')")) == "print('x')"


def test_default_local_text_is_a_deterministic_stdlib_subset(tmp_path):
    a = text.prepare_text(tmp_path / "a", None, max_bytes=500_000)
    b = text.prepare_text(tmp_path / "b", None, max_bytes=500_000)
    assert a == b and a["train_tokens"] >= 300_000 and a["val_tokens"] > 0 and a["source"].startswith("python-stdlib:")
    assert (tmp_path / "a" / "train.bin").read_bytes() == (tmp_path / "b" / "train.bin").read_bytes()


def test_bad_text_source_and_missing_datasets_package(tmp_path, monkeypatch):
    with pytest.raises(SuiteError, match="existing folder"):
        text.prepare_text(tmp_path / "out", tmp_path / "nope")
    with pytest.raises(SuiteError, match="tokenizer"):
        text.get_tokenizer("sentencepiece")
    import builtins

    real_import = builtins.__import__

    def no_datasets(name, *args, **kw):
        if name == "datasets":
            raise ImportError("No module named 'datasets'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(SuiteError, match=r"activation-suite\[data\]"):
        text.prepare_openwebtext(tmp_path / "owt")


def test_openwebtext_prepare_tokenises_a_local_hf_copy(tmp_path, monkeypatch):
    """The prepare path with a stand-in for HF ``datasets`` (an optional extra, absent in CI)."""
    import sys
    import types

    class FakeDataset(list):
        column_names = ["text"]

        def map(self, fn, batched, fn_kwargs, remove_columns, num_proc, desc):
            return [{"ids": ids} for ids in fn({"text": list(self)}, **fn_kwargs)["ids"]]

    docs = [f"web page {i} " * (i % 5 + 1) for i in range(200)]
    fake = types.ModuleType("datasets")
    fake.DatasetDict = dict
    fake.load_from_disk = lambda path: FakeDataset(docs)
    monkeypatch.setitem(sys.modules, "datasets", fake)
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "dataset_info.json").write_text("{}")
    meta = text.prepare_openwebtext(tmp_path / "owt", str(tmp_path / "hf"), tokenizer="bytes")
    assert meta["source"] == f"openwebtext:{tmp_path / 'hf'}" and meta["vocab_size"] == 256
    (tmp_path / "root").mkdir()
    (tmp_path / "owt").rename(tmp_path / "root" / "openwebtext")
    bundle = data.load("openwebtext", tmp_path / "root")
    ids = np.concatenate([bundle.train, bundle.val]).tolist()
    assert sorted(text.get_tokenizer("bytes").decode(ids).split("\x00")[:-1]) == sorted(docs)


def test_data_cli_prepares_text_and_checks_it(tmp_path, capsys):
    from suite.data import cli

    src, _ = _text_folder(tmp_path)
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "prepare", "text", "--source", str(src), "--data-root", str(tmp_path / "root")])
    assert args.func(args) == 0
    assert (tmp_path / "root" / "local-text" / "train.bin").is_file()
    args = parser.parse_args(["data", "check", "local_text", "--data-root", str(tmp_path / "root")])
    assert args.func(args) == 0
    assert "vocab_size 256" in capsys.readouterr().out


def test_catalog_lists_every_data_set():
    rows = {r["name"]: r for r in data.catalog_rows()}
    assert {"digits", "digits_detection", "local_text", "imagenet", "coco", "openwebtext"} <= set(rows)
    assert rows["digits"]["task"] == "classification" and rows["coco"]["kind"] == "external"
