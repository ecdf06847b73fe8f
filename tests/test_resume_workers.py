"""Exact resume with data-loader workers: a run on an ILSVRC-format tree with random
augmentation, stopped mid-epoch and resumed with 2 loader workers, ends with the numbers of
a run that was never interrupted (and of one read with no workers at all)."""
from __future__ import annotations

import pytest
import torch

import real_formats
import tiny_models
from suite.cell import Cell
from suite.tasks import StopRequested, request_checkpoint_and_stop, run_cell


@pytest.fixture(autouse=True)
def tiny(monkeypatch):
    with tiny_models.single_threaded(monkeypatch):
        yield


@pytest.fixture(scope="module")
def imagenet_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    real_formats.ilsvrc_tree(root, per_class=6, val_per_class=2)  # 21 train images, 6 val
    return root


def make_cell(workers: int) -> Cell:
    # 5 batches of 4 per epoch: the stop at step 3 is mid-epoch, and the run crosses into epoch 1
    return Cell(activation="learnable", arch="tiny", task="classification", dataset="imagenet", recipe="smoke",
                recipe_overrides={"steps": 8, "batch_size": 4, "image_size": 24, "num_workers": workers,
                                  "checkpoint_every": 0, "eval_batch_size": 6, "warmup_steps": 1, "log_every": 1},
                seed=1)


def comparable(result):
    return result["metrics"], result["history"], result["steps"]


def test_a_run_resumed_mid_epoch_with_two_workers_equals_an_uninterrupted_one(tmp_path, imagenet_root, monkeypatch):
    cell = make_cell(workers=2)
    reference = run_cell(cell, tmp_path / "reference", data_root=imagenet_root, progress=False)

    def stop_at_3(step):
        if step == 3:
            request_checkpoint_and_stop()

    monkeypatch.setattr("suite.tasks.loop.STEP_HOOKS", [stop_at_3])
    with pytest.raises(StopRequested):
        run_cell(cell, tmp_path / "work", data_root=imagenet_root, progress=False)
    monkeypatch.setattr("suite.tasks.loop.STEP_HOOKS", [])
    resumed = run_cell(cell, tmp_path / "work", data_root=imagenet_root, progress=False)
    assert resumed["resumed_from_step"] == 3
    assert comparable(resumed) == comparable(reference)
    # the augmentation of a sample depends on (seed, epoch, sample), not on which worker drew it
    no_workers = run_cell(make_cell(workers=0), tmp_path / "zero", data_root=imagenet_root, progress=False)
    assert no_workers["history"] == reference["history"]


def test_each_sample_is_augmented_the_same_whoever_loads_it(imagenet_root):
    from suite.data import load
    from suite.tasks.loop import DistEnv, epoch_batches, iterate_dataset

    train = load("imagenet", imagenet_root, image_size=24).train
    batches = epoch_batches(len(train), 4, 1, 0, DistEnv())
    full = [b[0] for b in iterate_dataset(train, batches, num_workers=2, seed=1, epoch=0)]
    tail = [b[0] for b in iterate_dataset(train, batches[3:], num_workers=2, seed=1, epoch=0)]
    assert all(torch.equal(a, b) for a, b in zip(full[3:], tail, strict=True))
    other_epoch = [b[0] for b in iterate_dataset(train, batches, num_workers=0, seed=1, epoch=1)]
    assert not torch.equal(full[0], other_epoch[0])  # augmentation still changes from epoch to epoch
