"""ImageNet and OpenWebText in the layouts users download (built by tests/real_formats.py):
the sorted ILSVRC tree with its odd JPEGs, a val split missing a class, Kaggle's flat val
with LOC_val_solution.csv, nanoGPT's bins with no meta file; and the data commands on them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import real_formats
from suite import data
from suite.cli import main
from suite.errors import SuiteError


def labels_by_name(split) -> dict[str, int]:
    return {p.rsplit("/", 1)[-1]: label for p, label in split.samples}


def test_ilsvrc_tree_with_cmyk_grayscale_and_png_named_jpeg_loads_as_rgb(tmp_path):
    expected = real_formats.ilsvrc_tree(tmp_path)
    bundle = data.load("imagenet", tmp_path, image_size=32)
    assert bundle.num_classes == 3 and bundle.train.classes == sorted(real_formats.WNIDS[:3])
    assert len(bundle.train) == 3 * 4 + 3 and len(bundle.val) == 6
    odd = {n: i for i, (p, _) in enumerate(bundle.train.samples) for n in ("_9001", "_9002", "_9003") if n in p}
    assert len(odd) == 3
    for index in odd.values():
        image, label = bundle.train[index]
        assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and label == 0
    assert labels_by_name(bundle.val) == expected


def test_a_val_split_missing_a_class_keeps_the_train_splits_labels(tmp_path):
    # ImageFolder on val alone would call the third class 1: every image of it mislabelled
    wnids = real_formats.WNIDS[:3]
    expected = real_formats.ilsvrc_tree(tmp_path, wnids=wnids, val_wnids=(wnids[0], wnids[2]))
    bundle = data.load("imagenet", tmp_path, image_size=32)
    assert sorted(set(expected.values())) == [0, 2]
    assert labels_by_name(bundle.val) == expected
    assert bundle.val[len(bundle.val) - 1][1] == 2 and bundle.num_classes == 3


def test_a_val_class_unknown_to_train_is_refused(tmp_path):
    real_formats.ilsvrc_tree(tmp_path, wnids=real_formats.WNIDS[:2], val_wnids=real_formats.WNIDS[:3])
    with pytest.raises(SuiteError, match=f"{real_formats.WNIDS[2]}.*expected only the 2 classes of the train split"):
        data.load("imagenet", tmp_path, image_size=32)


def test_kaggle_layout_reads_val_labels_from_loc_val_solution(tmp_path):
    expected = real_formats.kaggle_tree(tmp_path)
    assert data.DATASETS.get("imagenet").info["present"](tmp_path)
    bundle = data.load("imagenet", tmp_path, image_size=32)
    assert bundle.num_classes == 3 and len(bundle.val) == 6
    assert labels_by_name(bundle.val) == expected and len(set(expected.values())) == 3
    assert bundle.val[0][0].shape == (3, 32, 32)


def test_a_flat_val_folder_without_its_csv_is_not_on_disk_and_says_how_to_fix_it(tmp_path):
    real_formats.kaggle_tree(tmp_path)
    (tmp_path / "imagenet" / "LOC_val_solution.csv").unlink()
    assert not data.DATASETS.get("imagenet").info["present"](tmp_path)
    with pytest.raises(SuiteError, match="is flat .* LOC_val_solution.csv"):
        data.load("imagenet", tmp_path, image_size=32)


def test_a_kaggle_csv_missing_an_image_or_an_image_missing_from_it_is_refused(tmp_path):
    real_formats.kaggle_tree(tmp_path)
    val = tmp_path / "imagenet" / "ILSVRC" / "Data" / "CLS-LOC" / "val"
    (val / f"{real_formats.val_name(2)}.JPEG").unlink()
    with pytest.raises(SuiteError, match=f"lacks 1 image.*{real_formats.val_name(2)}"):
        data.load("imagenet", tmp_path, image_size=32)
    (val / f"{real_formats.val_name(1)}.JPEG").rename(val / "ILSVRC2012_val_00099999.JPEG")
    with pytest.raises(SuiteError, match="ILSVRC2012_val_00099999.JPEG have no row"):
        data.load("imagenet", tmp_path, image_size=32)


@pytest.mark.parametrize("build", [real_formats.ilsvrc_tree, real_formats.kaggle_tree])
def test_data_check_imagenet_reads_both_splits(tmp_path, capsys, build):
    build(tmp_path)
    assert main(["data", "check", "imagenet", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "imagenet" in out and "num_classes 3" in out and "(3, 224, 224)" in out


def test_list_datasets_takes_a_data_root(tmp_path, capsys):
    real_formats.kaggle_tree(tmp_path)
    assert main(["list", "datasets", "--data-root", str(tmp_path)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if " imagenet " in line)
    assert " yes " in row
    assert main(["list", "datasets", "--data-root", str(tmp_path / "empty")]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if " imagenet " in line)
    assert " no " in row


def test_nanogpt_bins_without_meta_json_load_as_gpt2_bpe(tmp_path, capsys):
    train, val = real_formats.nanogpt_bins(tmp_path / "openwebtext")
    assert not (tmp_path / "openwebtext" / "meta.json").exists()
    assert data.DATASETS.get("openwebtext").info["present"](tmp_path)
    bundle = data.load("openwebtext", tmp_path)
    assert bundle.vocab_size == 50257 and bundle.meta["tokenizer"] == "gpt2"
    assert bundle.train.dtype == np.uint16 and np.array_equal(bundle.train, train) and np.array_equal(bundle.val, val)
    assert main(["data", "check", "openwebtext", "--data-root", str(tmp_path)]) == 0
    assert "vocab_size 50257" in capsys.readouterr().out


def test_an_optional_meta_json_sets_the_vocabulary_and_a_wrong_one_is_refused(tmp_path):
    real_formats.nanogpt_bins(tmp_path / "openwebtext")
    meta = tmp_path / "openwebtext" / "meta.json"
    meta.write_text('{"vocab_size": 50304}')
    assert data.load("openwebtext", tmp_path).vocab_size == 50304
    meta.write_text('{"vocab_size": 256}')
    with pytest.raises(SuiteError, match="token id .* beyond its vocabulary of 256"):
        data.load("openwebtext", tmp_path)
    meta.write_text('{"dtype": "uint32"}')
    with pytest.raises(SuiteError, match="dtype .* 'uint32' is not accepted"):
        data.load("openwebtext", tmp_path)
    meta.unlink()
    (tmp_path / "openwebtext" / "val.bin").write_bytes(b"\x01\x02\x03")
    with pytest.raises(SuiteError, match="val.bin' has 3 bytes"):
        data.load("openwebtext", tmp_path)


def test_data_prepare_openwebtext_from_a_local_folder_of_text_files(tmp_path, monkeypatch, capsys):
    """The real HF ``datasets`` (the optional ``data`` extra) on a tiny local corpus, no network."""
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    docs = [f"page {i}\nline two of page {i}\n" for i in range(30)]
    for i, doc in enumerate(docs):
        (corpus / f"{i:04d}.txt").write_text(doc)
    assert main(["data", "prepare", "openwebtext", "--source", str(corpus), "--tokenizer", "bytes",
                 "--data-root", str(tmp_path / "root")]) == 0
    bundle = data.load("openwebtext", tmp_path / "root")
    ids = np.concatenate([bundle.train, bundle.val]).tolist()
    assert sorted(bytes(ids).decode().split("\x00")[:-1]) == sorted(docs)  # one document per file
