"""CIFAR-10/100 read from tiny files in the archives' own pickle format (tests/cifar_files.py)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from suite.data import DATASETS, load
from suite.errors import SuiteError
from tests.cifar_files import write_cifar10, write_cifar100


def _raw(folder, name, key=b"labels"):
    with open(folder / name, "rb") as f:
        entry = pickle.load(f, encoding="bytes")
    return np.asarray(entry[b"data"]).reshape(-1, 3, 32, 32), np.asarray(entry[key])


def test_cifar10_reads_every_batch_in_order_with_the_test_batch_as_validation(tmp_path):
    folder = write_cifar10(tmp_path)
    data = load("cifar10", tmp_path, augment=False)
    assert (data.num_classes, data.in_chans, data.image_size) == (10, 3, 32)
    assert (len(data.train), len(data.val)) == (40, 16)
    pixels, labels = _raw(folder, "data_batch_3")
    image, label = data.train[2 * 8 + 5]  # batch 3, item 5
    assert int(label) == int(labels[5])
    # normalisation is per channel and affine, so it keeps each channel's ranking of pixels
    for c in range(3):
        assert torch.equal(image[c].flatten().argsort(stable=True),
                           torch.from_numpy(pixels[5, c].astype(np.int64)).flatten().argsort(stable=True))
    test_pixels, test_labels = _raw(folder, "test_batch")
    assert [int(data.val[i][1]) for i in range(16)] == test_labels.tolist()


def test_both_splits_are_normalised_with_the_training_mean_and_std(tmp_path):
    folder = write_cifar10(tmp_path)
    data = load("cifar10", tmp_path, augment=False)
    train = torch.stack([data.train[i][0] for i in range(len(data.train))])
    torch.testing.assert_close(train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(train.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-4, rtol=0)
    raw = np.concatenate([_raw(folder, f"data_batch_{i}")[0] for i in range(1, 6)]) / 255.0
    mean, std = raw.mean(axis=(0, 2, 3)), raw.std(axis=(0, 2, 3), ddof=1)
    test_pixels, _ = _raw(folder, "test_batch")
    expected = (test_pixels[0] / 255.0 - mean[:, None, None]) / std[:, None, None]
    torch.testing.assert_close(data.val[0][0], torch.from_numpy(expected).float(), atol=1e-5, rtol=0)


def test_cifar100_uses_the_fine_labels(tmp_path):
    folder = write_cifar100(tmp_path)
    data = load("cifar100", tmp_path)
    _, fine = _raw(folder, "train", b"fine_labels")
    assert data.num_classes == 100 and len(data.train) == 40
    assert [int(data.train[i][1]) for i in range(40)] == fine.tolist()
    assert max(fine) >= 20  # coarse labels stop at 19: the fine ones were read


@pytest.mark.parametrize("pad_mode", ["zero", "reflect"])
def test_training_items_are_a_padded_random_crop_sometimes_flipped(tmp_path, pad_mode):
    write_cifar10(tmp_path)
    plain = load("cifar10", tmp_path, augment=False).train
    train = load("cifar10", tmp_path, pad_mode=pad_mode).train
    padded = F.pad(plain[7][0][None], (4, 4, 4, 4), mode="constant" if pad_mode == "zero" else "reflect")[0]
    windows = {}
    for top in range(9):
        for left in range(9):
            crop = padded[:, top:top + 32, left:left + 32]
            windows[(top, left, False)], windows[(top, left, True)] = crop, crop.flip(-1)
    torch.manual_seed(0)
    seen = set()
    for _ in range(60):
        image, label = train[7]
        assert int(label) == int(plain[7][1])
        (match,) = [key for key, w in windows.items() if torch.equal(w, image)]
        seen.add(match)
    assert {flip for _, _, flip in seen} == {False, True}
    assert len({(t, l) for t, l, _ in seen}) > 10  # many offsets, not one


def test_the_validation_split_is_never_augmented(tmp_path):
    write_cifar10(tmp_path)
    val = load("cifar10", tmp_path).val
    torch.manual_seed(0)
    first = val[3][0]
    assert all(torch.equal(val[3][0], first) for _ in range(10))


def test_a_missing_folder_is_one_error_naming_it_and_the_missing_files(tmp_path):
    with pytest.raises(SuiteError, match=r"cifar-10-batches-py.*missing: data_batch_1, .*test_batch"):
        load("cifar10", tmp_path)
    folder = write_cifar100(tmp_path)
    (folder / "test").unlink()
    with pytest.raises(SuiteError, match=r"'cifar100' was not found .*cifar-100-python.*missing: test"):
        load("cifar100", tmp_path)
    assert not DATASETS.get("cifar100").info["present"](tmp_path)
    assert DATASETS.get("cifar10").info["present"](tmp_path) is False


def test_a_file_that_is_not_a_cifar_batch_is_one_error_naming_it(tmp_path):
    folder = write_cifar10(tmp_path)
    (folder / "data_batch_2").write_bytes(b"not a pickle")
    with pytest.raises(SuiteError, match=r"data_batch_2.*is not accepted"):
        load("cifar10", tmp_path)
    with open(folder / "data_batch_2", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(SuiteError, match=r"data_batch_2.*shape \(2, 100\).*expected N x 3072"):
        load("cifar10", tmp_path)


def test_a_bad_pad_mode_is_rejected(tmp_path):
    write_cifar10(tmp_path)
    with pytest.raises(SuiteError, match="pad_mode 'mirror' is not accepted; expected one of zero, reflect"):
        load("cifar10", tmp_path, pad_mode="mirror")
